/* md_events_test: event text is made safe for JSON replies (valid UTF-8,
 * cut at a character boundary). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "md_events.h"

static void test_text_clean(void **state)
{
    (void)state;
    char buf[16];
    md_text_clean(buf, sizeof buf, "low-salt");
    assert_string_equal(buf, "low-salt");
    md_text_clean(buf, sizeof buf, NULL);
    assert_string_equal(buf, "");
    /* 软食 (soft food) is 6 bytes of valid UTF-8. */
    md_text_clean(buf, sizeof buf, "\xe8\xbd\xaf\xe9\xa3\x9f");
    assert_string_equal(buf, "\xe8\xbd\xaf\xe9\xa3\x9f");
    /* Invalid bytes become '?': a lone continuation byte, a truncated
     * sequence, an overlong encoding, a surrogate. */
    md_text_clean(buf, sizeof buf, "a\x80" "b");
    assert_string_equal(buf, "a?b");
    md_text_clean(buf, sizeof buf, "\xe8\xbd");
    assert_string_equal(buf, "??");
    md_text_clean(buf, sizeof buf, "\xc0\xaf");
    assert_string_equal(buf, "??");
    md_text_clean(buf, sizeof buf, "\xed\xa0\x80");
    assert_string_equal(buf, "???");
    /* Cut at a character boundary, never inside one: 5 x 3 bytes = 15 fit
     * in 16, a 6th does not. */
    char small[8];
    md_text_clean(small, sizeof small, "\xe8\xbd\xaf\xe9\xa3\x9f\xe8\xbd\xaf");
    assert_string_equal(small, "\xe8\xbd\xaf\xe9\xa3\x9f");
    md_text_clean(buf, sizeof buf, "0123456789abcdefghij");
    assert_int_equal(strlen(buf), 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
