/* String helpers: typo suggestions (edit distance) and hex. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { EDIT_STACK_ROW = 128 };

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;

	return m < c ? m : c;
}

/* Wagner-Fischer with one row of len(b) + 1 cells. Past EDIT_STACK_ROW the
 * row is on the heap; if that allocation fails the result is the longer
 * length, an upper bound that still reads as "not a typo". */
size_t bs_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), stack[EDIT_STACK_ROW + 1];
	size_t *row = lb < EDIT_STACK_ROW ? stack : malloc((lb + 1) * sizeof *row);
	size_t i, j, diag, up, result;

	if (row == NULL)
		return la > lb ? la : lb;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			up = row[j];
			row[j] = min3(up + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1]));
			diag = up;
		}
	}
	result = row[lb];
	if (row != stack)
		free(row);
	return result;
}

const char *bs_closest(const char *word, const char *const *candidates)
{
	size_t limit = strlen(word) / 3 > 2 ? strlen(word) / 3 : 2;
	size_t best_d = limit + 1, d, i;
	const char *best = NULL;

	for (i = 0; candidates[i] != NULL; i++) {
		d = bs_edit_distance(word, candidates[i]);
		if (d < best_d) {
			best_d = d;
			best = candidates[i];
		}
	}
	return best;
}

void bs_hex(const uint8_t *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int bs__unhex(const char *hex, size_t hex_len, uint8_t *bytes, size_t n)
{
	int hi, lo;
	size_t i;

	if (hex_len != 2 * n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		hi = hex_digit(hex[2 * i]);
		lo = hex_digit(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}
