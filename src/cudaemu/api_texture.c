/* api_texture.c — texture and surface objects (cuTexObject*, cuSurfObject*): validation of the
 * resource, texture and view descriptors, the handle table the interpreter looks handles up in,
 * and the deprecated texture/surface references, which cudaemu refuses. */
#include "tex.h"

#include <stdlib.h>
#include <string.h>

/* Objects sorted by handle; handles grow monotonically, so a destroyed handle never comes back. */
static emu_texobj **g_tex;
static size_t g_ntex, g_captex;
static uint64_t g_next_handle = 1;

static emu_texobj *find(uint64_t h, size_t *pos) {
    size_t lo = 0, hi = g_ntex;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g_tex[mid]->handle < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (pos) *pos = lo;
    return lo < g_ntex && g_tex[lo]->handle == h ? g_tex[lo] : NULL;
}

const emu_texobj *texobj_lookup(uint64_t handle, int surf) {
    emu_texobj *t = find(handle, NULL);
    if (!t || t->dead || t->is_surf != surf) return NULL;
    return t;
}

void texobj_array_gone(const struct CUarray_st *a) {
    for (size_t i = 0; i < g_ntex; i++)
        if (g_tex[i]->arr == a) g_tex[i]->dead = 1;
}

static int insert(emu_texobj *t) {
    emu_texobj **n = emu_grow(g_tex, &g_captex, g_ntex, sizeof *g_tex, 32);
    if (!n) return -1;
    g_tex = n;
    t->handle = g_next_handle++;
    g_tex[g_ntex++] = t; /* the largest handle: stays sorted */
    return 0;
}

/* Resolves a resource descriptor into t's geometry (lock held). */
static CUresult resolve(emu_texobj *t, const CUDA_RESOURCE_DESC *r, const char *fn) {
    t->res = *r;
    if (r->flags != 0) {
        emu_set_detail("%s: CUDA_RESOURCE_DESC::flags must be 0", fn);
        return CUDA_ERROR_INVALID_VALUE;
    }
    switch (r->resType) {
    case CU_RESOURCE_TYPE_ARRAY:
    case CU_RESOURCE_TYPE_MIPMAPPED_ARRAY: {
        struct CUarray_st *a;
        if (r->resType == CU_RESOURCE_TYPE_ARRAY) {
            a = array_get(r->res.array.hArray);
        } else {
            CUmipmappedArray m = r->res.mipmap.hMipmappedArray;
            a = m && handle_live(H_MIPARRAY, m) ? m->levels[0] : NULL;
        }
        if (!a) {
            emu_set_detail("%s: the resource's array handle is not a live array", fn);
            return CUDA_ERROR_INVALID_HANDLE;
        }
        t->arr = a;
        t->fmt = a->desc.Format;
        t->nch = a->desc.NumChannels;
        t->w = a->w;
        t->h = a->h;
        t->d = a->d;
        t->dims = a->dims;
        t->layered = a->layered;
        t->csz = array_format_bytes(t->fmt);
        t->esz = a->esz;
        t->pitch = a->w * a->esz;
        return CUDA_SUCCESS;
    }
    case CU_RESOURCE_TYPE_LINEAR:
    case CU_RESOURCE_TYPE_PITCH2D: {
        int lin = r->resType == CU_RESOURCE_TYPE_LINEAR;
        t->fmt = lin ? r->res.linear.format : r->res.pitch2D.format;
        t->nch = lin ? r->res.linear.numChannels : r->res.pitch2D.numChannels;
        t->dptr = lin ? r->res.linear.devPtr : r->res.pitch2D.devPtr;
        t->csz = array_format_bytes(t->fmt);
        if (!t->csz || (t->nch != 1 && t->nch != 2 && t->nch != 4)) {
            emu_set_detail("%s: format 0x%x with %u channels is not a supported element type", fn,
                           (unsigned)t->fmt, t->nch);
            return CUDA_ERROR_INVALID_VALUE;
        }
        t->esz = t->csz * t->nch;
        t->d = 1;
        if (lin) {
            t->linear = 1;
            t->dims = 1;
            t->w = r->res.linear.sizeInBytes / t->esz;
            t->h = 1;
            t->pitch = r->res.linear.sizeInBytes;
            if (t->w == 0 || t->w > (1u << 28)) {
                emu_set_detail("%s: linear resource of %zu bytes (1 to 2^28 elements)", fn,
                               r->res.linear.sizeInBytes);
                return CUDA_ERROR_INVALID_VALUE;
            }
        } else {
            t->dims = 2;
            t->w = r->res.pitch2D.width;
            t->h = r->res.pitch2D.height;
            t->pitch = r->res.pitch2D.pitchInBytes;
            if (!t->w || !t->h || t->w > 131072 || t->h > 65536 || t->pitch < t->w * t->esz ||
                t->pitch % 32) {
                emu_set_detail(
                    "%s: pitch2D %zux%zu with pitch %zu (pitch >= width * element size, a multiple of "
                    "32; see CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT)",
                    fn, t->w, t->h, t->pitch);
                return CUDA_ERROR_INVALID_VALUE;
            }
        }
        if (t->dptr % 256) {
            emu_set_detail(
                "%s: devPtr 0x%llx is not aligned to 256 bytes (CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT)", fn,
                (unsigned long long)t->dptr);
            return CUDA_ERROR_INVALID_VALUE;
        }
        size_t span = lin ? t->pitch : (t->h - 1) * t->pitch + t->w * t->esz;
        if (!t->dptr || !vm_find((uint64_t)t->dptr, span)) {
            emu_set_detail("%s: devPtr 0x%llx + %zu bytes is not inside one allocation", fn,
                           (unsigned long long)t->dptr, span);
            return CUDA_ERROR_INVALID_VALUE;
        }
        return CUDA_SUCCESS;
    }
    default:
        emu_set_detail("%s: resource type %d is not a CUresourcetype", fn, (int)r->resType);
        return CUDA_ERROR_INVALID_VALUE;
    }
}

static void trivial_view(emu_texobj *t) {
    memset(&t->view, 0, sizeof t->view);
    t->view.format = CU_RES_VIEW_FORMAT_NONE;
    t->view.width = t->w;
    t->view.height = t->dims >= 2 ? t->h : 0;
    t->view.depth = t->dims == 3 || t->layered ? t->d : 0;
    t->view.lastMipmapLevel = 0;
    t->view.lastLayer = t->layered ? (unsigned)t->d - 1 : 0;
}

EMU_API CUresult cuTexObjectCreate(CUtexObject *pTexObject, const CUDA_RESOURCE_DESC *pResDesc,
                                   const CUDA_TEXTURE_DESC *pTexDesc,
                                   const CUDA_RESOURCE_VIEW_DESC *pResViewDesc) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (!pTexObject || !pResDesc || !pTexDesc) return CUDA_ERROR_INVALID_VALUE;
    const CUDA_TEXTURE_DESC *td = pTexDesc;
    for (int i = 0; i < 3; i++)
        if ((unsigned)td->addressMode[i] > CU_TR_ADDRESS_MODE_BORDER) {
            emu_set_detail("cuTexObjectCreate: addressMode[%d] = %d is not a CUaddress_mode", i,
                           (int)td->addressMode[i]);
            return CUDA_ERROR_INVALID_VALUE;
        }
    if ((unsigned)td->filterMode > CU_TR_FILTER_MODE_LINEAR ||
        (unsigned)td->mipmapFilterMode > CU_TR_FILTER_MODE_LINEAR) {
        emu_set_detail("cuTexObjectCreate: filterMode %d / mipmapFilterMode %d", (int)td->filterMode,
                       (int)td->mipmapFilterMode);
        return CUDA_ERROR_INVALID_VALUE;
    }
    const unsigned known = CU_TRSF_READ_AS_INTEGER | CU_TRSF_NORMALIZED_COORDINATES | CU_TRSF_SRGB |
                           CU_TRSF_DISABLE_TRILINEAR_OPTIMIZATION | CU_TRSF_SEAMLESS_CUBEMAP;
    if (td->flags & ~known) {
        emu_set_detail("cuTexObjectCreate: unknown texture flags 0x%x", td->flags);
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (td->flags & CU_TRSF_SEAMLESS_CUBEMAP) {
        emu_set_detail(
            "cuTexObjectCreate: CU_TRSF_SEAMLESS_CUBEMAP needs a cubemap array (cudaemu has none)");
        return CUDA_ERROR_INVALID_VALUE;
    }
    emu_texobj *t = calloc(1, sizeof *t);
    if (!t) return CUDA_ERROR_OUT_OF_MEMORY;
    t->ctx = c;
    t->td = *td;
    emu_lock();
    r = resolve(t, pResDesc, "cuTexObjectCreate");
    if (r == CUDA_SUCCESS && pResDesc->resType == CU_RESOURCE_TYPE_MIPMAPPED_ARRAY &&
        !(td->flags & CU_TRSF_NORMALIZED_COORDINATES)) {
        emu_set_detail("cuTexObjectCreate: a mipmapped array needs CU_TRSF_NORMALIZED_COORDINATES");
        r = CUDA_ERROR_INVALID_VALUE;
    }
    if (r == CUDA_SUCCESS && td->filterMode == CU_TR_FILTER_MODE_LINEAR && !t->linear &&
        (t->csz == 4 && t->fmt != CU_AD_FORMAT_FLOAT)) {
        emu_set_detail("cuTexObjectCreate: linear filtering of a 32-bit integer format");
        r = CUDA_ERROR_INVALID_VALUE;
    }
    trivial_view(t);
    if (r == CUDA_SUCCESS && pResViewDesc) {
        const CUDA_RESOURCE_VIEW_DESC *v = pResViewDesc;
        int trivial = v->format == CU_RES_VIEW_FORMAT_NONE && v->width == t->view.width &&
                      (v->height == t->view.height || (v->height == 0 && t->dims < 2)) &&
                      (v->depth == t->view.depth || v->depth == 0) && v->firstMipmapLevel == 0 &&
                      v->lastMipmapLevel == 0 && v->firstLayer == 0 && (v->lastLayer == t->view.lastLayer);
        if (pResDesc->resType != CU_RESOURCE_TYPE_ARRAY &&
            pResDesc->resType != CU_RESOURCE_TYPE_MIPMAPPED_ARRAY) {
            emu_set_detail("cuTexObjectCreate: a resource view needs an array resource");
            r = CUDA_ERROR_INVALID_VALUE;
        } else if (!trivial) {
            emu_set_detail(
                "cuTexObjectCreate: resource views other than the whole resource in its own format are not "
                "supported by cudaemu");
            r = CUDA_ERROR_NOT_SUPPORTED;
        } else {
            t->view = *v;
        }
    }
    if (r == CUDA_SUCCESS && (td->flags & CU_TRSF_SRGB))
        emu_set_detail(
            "cuTexObjectCreate: CU_TRSF_SRGB is ignored by cudaemu (texels are returned without the sRGB "
            "to linear conversion)");
    if (r == CUDA_SUCCESS && insert(t) != 0) r = CUDA_ERROR_OUT_OF_MEMORY;
    if (r == CUDA_SUCCESS)
        *pTexObject = (CUtexObject)t->handle;
    else
        free(t);
    emu_unlock();
    return r;
}

static CUresult destroy(uint64_t h, int surf) {
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    size_t pos;
    emu_texobj *t = find(h, &pos);
    if (!t || t->is_surf != surf) {
        emu_unlock();
        emu_set_detail("%s: 0x%llx is not a live %s object",
                       surf ? "cuSurfObjectDestroy" : "cuTexObjectDestroy", (unsigned long long)h,
                       surf ? "surface" : "texture");
        return CUDA_ERROR_INVALID_VALUE;
    }
    memmove(&g_tex[pos], &g_tex[pos + 1], (g_ntex - pos - 1) * sizeof *g_tex);
    g_ntex--;
    free(t);
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuTexObjectDestroy(CUtexObject texObject) { return destroy(texObject, 0); }
EMU_API CUresult cuSurfObjectDestroy(CUsurfObject surfObject) { return destroy(surfObject, 1); }

/* Copies out of a live object (dead ones too: the descriptors stay readable). */
static CUresult get(uint64_t h, int surf, void *out, int what) {
    if (!out) return CUDA_ERROR_INVALID_VALUE;
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    emu_lock();
    emu_texobj *t = find(h, NULL);
    if (!t || t->is_surf != surf) {
        emu_unlock();
        emu_set_detail("0x%llx is not a live %s object", (unsigned long long)h, surf ? "surface" : "texture");
        return CUDA_ERROR_INVALID_VALUE;
    }
    if (what == 0)
        memcpy(out, &t->res, sizeof t->res);
    else if (what == 1)
        memcpy(out, &t->td, sizeof t->td);
    else
        memcpy(out, &t->view, sizeof t->view);
    emu_unlock();
    return CUDA_SUCCESS;
}

EMU_API CUresult cuTexObjectGetResourceDesc(CUDA_RESOURCE_DESC *pResDesc, CUtexObject texObject) {
    return get(texObject, 0, pResDesc, 0);
}
EMU_API CUresult cuTexObjectGetTextureDesc(CUDA_TEXTURE_DESC *pTexDesc, CUtexObject texObject) {
    return get(texObject, 0, pTexDesc, 1);
}
EMU_API CUresult cuTexObjectGetResourceViewDesc(CUDA_RESOURCE_VIEW_DESC *pResViewDesc,
                                                CUtexObject texObject) {
    return get(texObject, 0, pResViewDesc, 2);
}
EMU_API CUresult cuSurfObjectGetResourceDesc(CUDA_RESOURCE_DESC *pResDesc, CUsurfObject surfObject) {
    return get(surfObject, 1, pResDesc, 0);
}

EMU_API CUresult cuSurfObjectCreate(CUsurfObject *pSurfObject, const CUDA_RESOURCE_DESC *pResDesc) {
    CUcontext c;
    CUresult r = ctx_check(&c);
    if (r != CUDA_SUCCESS) return r;
    if (!pSurfObject || !pResDesc) return CUDA_ERROR_INVALID_VALUE;
    if (pResDesc->resType != CU_RESOURCE_TYPE_ARRAY) {
        emu_set_detail("cuSurfObjectCreate: the resource must be a CUDA array (CU_RESOURCE_TYPE_ARRAY)");
        return CUDA_ERROR_INVALID_VALUE;
    }
    emu_texobj *t = calloc(1, sizeof *t);
    if (!t) return CUDA_ERROR_OUT_OF_MEMORY;
    t->ctx = c;
    t->is_surf = 1;
    emu_lock();
    r = resolve(t, pResDesc, "cuSurfObjectCreate");
    if (r == CUDA_SUCCESS && !(t->arr->desc.Flags & CUDA_ARRAY3D_SURFACE_LDST)) {
        emu_set_detail("cuSurfObjectCreate: the array was not created with CUDA_ARRAY3D_SURFACE_LDST");
        r = CUDA_ERROR_INVALID_VALUE;
    }
    if (r == CUDA_SUCCESS && insert(t) != 0) r = CUDA_ERROR_OUT_OF_MEMORY;
    if (r == CUDA_SUCCESS)
        *pSurfObject = (CUsurfObject)t->handle;
    else
        free(t);
    emu_unlock();
    return r;
}

void texobj_free_ctx(CUcontext ctx) {
    size_t k = 0;
    for (size_t i = 0; i < g_ntex; i++) {
        if (g_tex[i]->ctx == ctx)
            free(g_tex[i]);
        else
            g_tex[k++] = g_tex[i];
    }
    g_ntex = k;
    if (!g_ntex) {
        free(g_tex);
        g_tex = NULL;
        g_captex = 0;
    }
}

/* ---- texture and surface references: deprecated since CUDA 11, removed in CUDA 12's runtime ---- */
static CUresult no_refs(const char *fn) {
    emu_set_detail(
        "%s: texture and surface references are deprecated and not supported by cudaemu; use texture "
        "and surface objects (cuTexObjectCreate, cuSurfObjectCreate)",
        fn);
    return CUDA_ERROR_NOT_SUPPORTED;
}

EMU_API CUresult cuModuleGetTexRef(CUtexref *pTexRef, CUmodule hmod, const char *name) {
    (void)pTexRef;
    (void)hmod;
    (void)name;
    return no_refs("cuModuleGetTexRef");
}
EMU_API CUresult cuModuleGetSurfRef(CUsurfref *pSurfRef, CUmodule hmod, const char *name) {
    (void)pSurfRef;
    (void)hmod;
    (void)name;
    return no_refs("cuModuleGetSurfRef");
}
EMU_API CUresult cuTexRefCreate(CUtexref *pTexRef) {
    (void)pTexRef;
    return no_refs("cuTexRefCreate");
}
EMU_API CUresult cuTexRefDestroy(CUtexref hTexRef) {
    (void)hTexRef;
    return no_refs("cuTexRefDestroy");
}
