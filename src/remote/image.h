/* image.h — how many bytes a module image given by pointer only has (image.c). */
#ifndef LEPTON_REMOTE_IMAGE_H
#define LEPTON_REMOTE_IMAGE_H

#include <stddef.h>

/* The bytes to ship for `image`: *data (the fatbin a wrapper points to, else image) and *size.
 * 0, or -1 for a container whose header makes no sense. */
int rm_image_extent(const void *image, const void **data, size_t *size);

#endif
