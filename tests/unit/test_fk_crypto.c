/*  Tests for fk_crypto and fk_json: secrets, encodings, digests. */

#include "fk_crypto.h"
#include "fk_err.h"
#include "fk_json.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(fk_crypto);

Test(fk_crypto, urlsafe_token_has_python_token_urlsafe_length_and_alphabet)
{
    char *token = fk_random_urlsafe(32);
    cr_assert_eq(strlen(token), 43);
    cr_assert_eq(strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                 43);
    char *other = fk_random_urlsafe(32);
    cr_assert_str_neq(token, other);
    free(token);
    free(other);
}

Test(fk_crypto, alphabet_tokens_use_only_the_alphabet)
{
    const char *alphabet = "ABCDEFGHJKMNPQRSTWXYZ23456789";
    for (int i = 0; i < 50; i++) {
        char *code = fk_random_from_alphabet(10, alphabet);
        cr_assert_eq(strlen(code), 10);
        cr_assert_eq(strspn(code, alphabet), 10);
        free(code);
    }
}

Test(fk_crypto, uuid4_is_canonical_version_4)
{
    char *uuid = fk_random_uuid4();
    cr_assert_eq(strlen(uuid), 36);
    cr_assert_eq(uuid[14], '4');
    cr_assert(strchr("89ab", uuid[19]) != NULL);
    cr_assert_eq(uuid[8], '-');
    free(uuid);
}

Test(fk_crypto, uuid4_from_bytes_sets_version_and_variant_bits)
{
    unsigned char ones[16];
    memset(ones, 0xff, sizeof ones);
    char *uuid = fk_uuid4_from_bytes(ones);
    cr_assert_str_eq(uuid, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    free(uuid);
    unsigned char zeros[16] = {0};
    uuid = fk_uuid4_from_bytes(zeros);
    cr_assert_str_eq(uuid, "00000000-0000-4000-8000-000000000000");
    free(uuid);
}

Test(fk_crypto, hmac_sha256_matches_rfc4231_case_2)
{
    unsigned char mac[32];
    const char *data = "what do ya want for nothing?";
    fk_hmac_sha256("Jefe", 4, data, strlen(data), mac);
    static const unsigned char expected[32] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
                                               0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
                                               0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
                                               0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    cr_assert_arr_eq(mac, expected, sizeof expected);
}

Test(fk_crypto, b64url_round_trips_every_length)
{
    unsigned char data[40];
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (unsigned char)(i * 37 + 250);
    }
    for (size_t len = 0; len <= sizeof data; len++) {
        char *text = fk_b64url_encode(data, len);
        cr_assert_null(strchr(text, '='));
        unsigned char *back = NULL;
        size_t back_len = 0;
        cr_assert_eq(fk_b64url_decode(text, strlen(text), &back, &back_len), 0, "len %zu", len);
        cr_assert_eq(back_len, len);
        cr_assert_eq(memcmp(back, data, len), 0);
        free(back);
        free(text);
    }
}

Test(fk_crypto, b64_decoders_refuse_bad_input)
{
    unsigned char sentinel[] = "sentinel";
    unsigned char *out = sentinel;
    size_t len = 0;
    cr_assert_eq(fk_b64url_decode("a", 1, &out, &len), FK_EINVAL_INPUT);
    cr_assert_null(out);
    cr_assert_eq(fk_b64url_decode("ab+c", 4, &out, &len), FK_EINVAL_INPUT);
    cr_assert_eq(fk_b64url_decode("ab=c", 4, &out, &len), FK_EINVAL_INPUT);
    cr_assert_eq(fk_b64_decode("ab-c", 4, &out, &len), FK_EINVAL_INPUT);
    cr_assert_eq(fk_b64_decode("dXNlcjpwYXNz", 12, &out, &len), 0);
    cr_assert_eq(len, 9);
    cr_assert_str_eq((char *)out, "user:pass");
    free(out);
}

Test(fk_crypto, sha256_matches_the_fips_vector)
{
    char hex[FK_SHA256_HEX_LEN + 1];
    fk_sha256_hex("abc", 3, hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(fk_crypto, secret_equal_compares_whole_strings)
{
    cr_assert(fk_secret_equal("abc", "abc"));
    cr_assert_not(fk_secret_equal("abc", "abd"));
    cr_assert_not(fk_secret_equal("abc", "abcd"));
    cr_assert_not(fk_secret_equal(NULL, "abc"));
}

Test(fk_crypto, err_names_and_messages_cover_both_families)
{
    cr_assert_str_eq(fk_err_name(FK_ENOTFOUND), "FK_ENOTFOUND");
    cr_assert_str_eq(fk_strerror(FK_ETOOBIG), "input exceeds its size limit");
    cr_assert_str_eq(fk_err_name(-2), "ENOENT");
    cr_assert_str_eq(fk_strerror(0), "success");
    cr_assert_str_eq(fk_err_name(12345), "UNKNOWN");
}

Test(fk_crypto, json_object_parser_reports_position_and_refuses_non_objects)
{
    json_t *value = NULL;
    char err[160];
    cr_assert_eq(fk_json_parse_object("{\"a\":1}", 7, &value, err, sizeof err), 0);
    cr_assert_eq(fk_json_int(value, "a", 0), 1);
    json_decref(value);
    cr_assert_eq(fk_json_parse_object("[1]", 3, &value, err, sizeof err), FK_EINVAL_INPUT);
    cr_assert_str_eq(err, "must be a JSON object");
    cr_assert_eq(fk_json_parse_object("{\"a\":", 5, &value, err, sizeof err), FK_EINVAL_INPUT);
    cr_assert(strstr(err, "line 1") != NULL);
    cr_assert_eq(fk_json_parse_object("{\"a\":1,\"a\":2}", 13, &value, err, sizeof err),
                 FK_EINVAL_INPUT);
    cr_assert_null(value);
}
