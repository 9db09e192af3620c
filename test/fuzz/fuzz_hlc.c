/*-------------------------------------------------------------------------
 *
 * fuzz_hlc.c
 *		libFuzzer harness for the text form of ws.hlc (src/hlc_parse.c).
 *
 * Each input is copied into a buffer of exactly its length plus a NUL, so
 * AddressSanitizer catches any read past the terminator, and parsed.  A
 * value the parser accepts must be in range and must survive formatting:
 * format -> parse gives the identical struct, and formatting that again
 * gives the identical text, i.e. output is canonical.  Any violation traps,
 * which libFuzzer reports as a crash with the input saved.
 *
 * Built and run by test/fuzz/run.sh.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hlc_parse.h"

#define CHECK(cond)		do { if (!(cond)) __builtin_trap(); } while (0)

/* Fuzz entry point: parse one input and check the invariants above. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *str = malloc(size + 1);
	WsHlc		hlc;
	WsHlc		again;
	char		text[WS_HLC_TEXT_MAX];
	char		text2[WS_HLC_TEXT_MAX];
	size_t		len;

	if (str == NULL)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';

	/* a failed parse must leave the output alone */
	memset(&hlc, 0xA5, sizeof(hlc));
	memcpy(&again, &hlc, sizeof(hlc));
	if (ws_hlc_parse(str, &hlc) != WS_HLC_OK)
	{
		CHECK(memcmp(&hlc, &again, sizeof(hlc)) == 0);
		free(str);
		return 0;
	}

	CHECK(hlc.wall >= WS_HLC_WALL_MIN && hlc.wall <= WS_HLC_WALL_MAX);
	CHECK(hlc.counter >= 0);
	CHECK(hlc.node >= 0);

	len = ws_hlc_format(&hlc, text, sizeof(text));
	CHECK(len > 0 && len < sizeof(text) && strlen(text) == len);
	CHECK(ws_hlc_parse(text, &again) == WS_HLC_OK);
	CHECK(again.wall == hlc.wall && again.counter == hlc.counter &&
		  again.node == hlc.node);

	CHECK(ws_hlc_format(&again, text2, sizeof(text2)) == len);
	CHECK(strcmp(text, text2) == 0);

	free(str);
	return 0;
}
