/* interp_builtin.c — the extern device functions nvcc calls that the interpreter provides itself:
 * vprintf (device printf, written to the host's stdout) and __assertfail (device assert, which
 * ends the launch with CUDA_ERROR_ASSERT like the hardware). */
#include "interp_int.h"

#include <stdio.h>
#include <string.h>

/* Copies a NUL-terminated device string; returns its length or -1 on a fault. */
static int read_str(exec *x, uint64_t a, unsigned tid, char *buf, size_t cap, int line) {
    size_t n = 0;
    for (; n + 1 < cap; n++) {
        uint8_t *p = mem_xlate(x, SS_GENERIC, a + n, 1, tid, 0, line);
        if (!p) return -1;
        if (!*p) break;
        buf[n] = (char)*p;
    }
    buf[n] = 0;
    return (int)n;
}

static uint64_t arg_u64(const warp *w, const frame *f, const ptx_func *fn, const ptx_callsite *cs, int a,
                        int l) {
    uint64_t v = 0;
    if (a >= cs->nargs) return 0;
    uint32_t n = cs->arg_size[a] < 8 ? cs->arg_size[a] : 8;
    memcpy(&v, w->params + f->param_off + (size_t)l * fn->frame_param_size + cs->arg_off[a], n);
    return v;
}

/* Reads the next argument of the given size from the packed vprintf argument buffer. */
static int next_arg(exec *x, uint64_t buf, uint64_t *off, uint32_t size, unsigned tid, uint64_t *out,
                    int line) {
    *off = (*off + size - 1) / size * size;
    uint8_t *p = mem_xlate(x, SS_GENERIC, buf + *off, size, tid, 0, line);
    if (!p) return -1;
    *out = 0;
    memcpy(out, p, size);
    *off += size;
    return 0;
}

static int do_printf(exec *x, uint64_t fmt_a, uint64_t args, unsigned tid, int line, int *written) {
    char fmt[2048], out[4096], spec[32], sarg[1024];
    if (read_str(x, fmt_a, tid, fmt, sizeof fmt, line) < 0) return -1;
    size_t o = 0;
    uint64_t off = 0;
    for (const char *p = fmt; *p && o < sizeof out - 1;) {
        if (*p != '%') {
            out[o++] = *p++;
            continue;
        }
        if (p[1] == '%') {
            out[o++] = '%';
            p += 2;
            continue;
        }
        size_t k = 0;
        spec[k++] = *p++;
        int longs = 0;
        while (*p && strchr("-+ #0123456789.*hlLqjzt", *p) && k < sizeof spec - 4) {
            if (*p == 'l' || *p == 'L' || *p == 'q' || *p == 'j' || *p == 'z' || *p == 't') longs++;
            if (*p == '*') return 0; /* unsupported: print nothing more */
            if (*p != 'h' && *p != 'l' && *p != 'L' && *p != 'q' && *p != 'j' && *p != 'z' && *p != 't')
                spec[k++] = *p;
            p++;
        }
        char conv = *p ? *p++ : 0;
        uint64_t v = 0;
        int n = 0;
        size_t room = sizeof out - o;
        switch (conv) {
        case 'd':
        case 'i':
        case 'u':
        case 'x':
        case 'X':
        case 'o':
        case 'c': {
            uint32_t size = longs ? 8 : 4;
            if (next_arg(x, args, &off, size, tid, &v, line)) return -1;
            spec[k++] = 'l';
            spec[k++] = 'l';
            spec[k++] = conv;
            spec[k] = 0;
            if (conv == 'c') {
                spec[k - 3] = 'c';
                spec[k - 2] = 0;
                n = snprintf(out + o, room, spec, (int)v);
            } else if (conv == 'd' || conv == 'i') {
                long long sv = size == 4 ? (long long)(int32_t)v : (long long)v;
                n = snprintf(out + o, room, spec, sv);
            } else {
                n = snprintf(out + o, room, spec, (unsigned long long)v);
            }
            break;
        }
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
        case 'a':
        case 'A': {
            if (next_arg(x, args, &off, 8, tid, &v, line)) return -1;
            spec[k++] = conv;
            spec[k] = 0;
            n = snprintf(out + o, room, spec, u2d(v));
            break;
        }
        case 's': {
            if (next_arg(x, args, &off, 8, tid, &v, line)) return -1;
            if (v == 0) {
                snprintf(sarg, sizeof sarg, "(null)");
            } else if (read_str(x, v, tid, sarg, sizeof sarg, line) < 0) {
                return -1;
            }
            spec[k++] = 's';
            spec[k] = 0;
            n = snprintf(out + o, room, spec, sarg);
            break;
        }
        case 'p': {
            if (next_arg(x, args, &off, 8, tid, &v, line)) return -1;
            n = snprintf(out + o, room, "0x%llx", (unsigned long long)v);
            break;
        }
        default:
            n = 0;
            break;
        }
        if (n > 0) o += (size_t)n < room ? (size_t)n : room - 1;
    }
    out[o] = 0;
    fputs(out, stdout);
    *written = (int)o;
    return 0;
}

int builtin_call(exec *x, warp *w, const frame *f, const ptx_func *fn, const ptx_callsite *cs, int kind,
                 uint32_t m, int line) {
    for (uint32_t mm = m; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        unsigned tid = (unsigned)w->index * 32u + (unsigned)l;
        if (kind == BI_VPRINTF) {
            int written = 0;
            if (do_printf(x, arg_u64(w, f, fn, cs, 0, l), arg_u64(w, f, fn, cs, 1, l), tid, line, &written))
                return W_ERR;
            if (cs->has_ret && cs->ret_size >= 4) {
                int32_t rv = written;
                memcpy(w->params + f->param_off + (size_t)l * fn->frame_param_size + cs->ret_off, &rv, 4);
            }
        } else {
            char msg[512], file[256], func[256];
            if (read_str(x, arg_u64(w, f, fn, cs, 0, l), tid, msg, sizeof msg, line) < 0 ||
                read_str(x, arg_u64(w, f, fn, cs, 1, l), tid, file, sizeof file, line) < 0 ||
                read_str(x, arg_u64(w, f, fn, cs, 3, l), tid, func, sizeof func, line) < 0)
                return W_ERR;
            unsigned ln = (unsigned)arg_u64(w, f, fn, cs, 2, l);
            const uint64_t *s = w->spec;
            fprintf(stderr, "%s:%u: %s: block: [%u,%u,%u], thread: [%u,%u,%u] Assertion `%s` failed.\n", file,
                    ln, func, x->ctaid[0], x->ctaid[1], x->ctaid[2], (unsigned)s[SP_TID_X * 32 + l],
                    (unsigned)s[SP_TID_Y * 32 + l], (unsigned)s[SP_TID_Z * 32 + l], msg);
            if (x->err == CUDA_SUCCESS) {
                x->err = CUDA_ERROR_ASSERT;
                snprintf(x->msg, sizeof x->msg, "device-side assertion `%.100s` failed at %.100s:%u", msg,
                         file, ln);
            }
            return W_ERR;
        }
    }
    fflush(stdout);
    return W_RUN;
}
