/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k2i configuration: defaults and the JSON config file. Called by main.c in
 * the (privileged) parent before anything listens. Tokens are hashed with
 * SHA-256 as they are read and their text is scrubbed, so neither the
 * parent nor the forked HTTP process holds a token in memory afterwards.
 */
#include "k2i.h"
#include "cleanup.h"
#include "kerr.h"
#include "util.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int
k2i_config_init(struct k2i_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->user = strdup("nobody");
    if (!cfg->user)
        return -ENOMEM;
    cfg->privsep = true;
    cfg->seccomp = true;
    cfg->sample_interval_usec = 1000000;
    cfg->threads = 2;
    cfg->max_connections = 256;
    cfg->connection_memory_limit = 64 * 1024;
    cfg->connection_timeout_sec = 30;
    cfg->fd_cache = 8192;
    return 0;
}

void
k2i_config_free(struct k2i_config *cfg)
{
    for (size_t i = 0; i < cfg->nlisten; i++)
        free(cfg->listen[i]);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->user);
    free(cfg->config_path);
    explicit_bzero(cfg->tokens, sizeof(cfg->tokens));
    memset(cfg, 0, sizeof(*cfg));
}

void
k2i_token_hash(const char *token, size_t len, uint8_t ret_hash[32])
{
    gnutls_hash_fast(GNUTLS_DIG_SHA256, token, len, ret_hash);
}

int
k2i_config_add_listen(struct k2i_config *cfg, const char *addr, struct kerr *err)
{
    if (cfg->nlisten >= K2I_MAX_LISTEN)
        return kerr_setf(err, E2BIG, "more than %d listen addresses", K2I_MAX_LISTEN);
    char *s = strdup(addr);
    if (!s)
        return kerr_set(err, ENOMEM, "listen address");
    cfg->listen[cfg->nlisten++] = s;
    return 0;
}

static int
set_str(char **dst, json_t *v, const char *key, struct kerr *err)
{
    if (!json_is_string(v) || json_string_length(v) == 0)
        return kerr_setf(err, EINVAL, "'%s': want a non-empty string", key);
    char *s = strdup(json_string_value(v));
    if (!s)
        return kerr_set(err, ENOMEM, "'%s'", key);
    free(*dst);
    *dst = s;
    return 0;
}

static int
get_int(json_t *v, const char *key, long long min, long long max, long long *ret, struct kerr *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return kerr_setf(err, EINVAL, "'%s': want an integer %lld..%lld", key, min, max);
    *ret = json_integer_value(v);
    return 0;
}

static int
token_ok(const char *t, size_t n)
{
    if (n < 16 || n > K2I_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (t[i] <= 0x20 || t[i] >= 0x7f)
            return 0;
    return 1;
}

static int
parse_token(struct k2i_config *cfg, json_t *obj, size_t idx, struct kerr *err)
{
    if (!json_is_object(obj))
        return kerr_setf(err, EINVAL, "'tokens[%zu]': want an object", idx);
    if (cfg->ntokens >= K2I_MAX_TOKENS)
        return kerr_setf(err, E2BIG, "'tokens': more than %d tokens", K2I_MAX_TOKENS);
    struct k2i_token tok;
    memset(&tok, 0, sizeof(tok));
    const char *key;
    json_t *v;
    bool have_token = false, have_scopes = false;
    snprintf(tok.name, sizeof(tok.name), "token%zu", idx);
    json_object_foreach (obj, key, v) {
        if (strcmp(key, "name") == 0) {
            if (!json_is_string(v) || json_string_length(v) == 0 ||
                json_string_length(v) >= sizeof(tok.name))
                return kerr_setf(err, EINVAL, "'tokens[%zu].name': want a string of 1..%zu bytes",
                                 idx, sizeof(tok.name) - 1);
            strlcpy_k(tok.name, json_string_value(v), sizeof(tok.name));
        } else if (strcmp(key, "token") == 0 || strcmp(key, "token_file") == 0) {
            if (have_token)
                return kerr_setf(err, EINVAL, "'tokens[%zu]': give one of 'token', 'token_file'",
                                 idx);
            if (!json_is_string(v))
                return kerr_setf(err, EINVAL, "'tokens[%zu].%s': want a string", idx, key);
            char *text = NULL;
            size_t n;
            if (strcmp(key, "token_file") == 0) {
                int r = read_file_alloc(json_string_value(v), 4096, &text, &n);
                if (r < 0)
                    return kerr_set(err, -r, "'tokens[%zu].token_file': read '%s'", idx,
                                    json_string_value(v));
                while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
                    text[--n] = '\0';
            } else {
                text = strdup(json_string_value(v));
                if (!text)
                    return kerr_set(err, ENOMEM, "token");
                n = json_string_length(v);
            }
            int ok = token_ok(text, n);
            if (ok)
                k2i_token_hash(text, n, tok.hash);
            explicit_bzero(text, n);
            free(text);
            if (!ok)
                return kerr_setf(err, EINVAL,
                                 "'tokens[%zu]': a token is 16..%d printable ASCII bytes without "
                                 "spaces",
                                 idx, K2I_TOKEN_MAX);
            have_token = true;
        } else if (strcmp(key, "scopes") == 0) {
            if (!json_is_array(v))
                return kerr_setf(err, EINVAL, "'tokens[%zu].scopes': want an array", idx);
            size_t i;
            json_t *s;
            json_array_foreach (v, i, s) {
                const char *sv = json_string_value(s);
                if (sv && strcmp(sv, "read") == 0)
                    tok.scopes |= K2I_SCOPE_READ;
                else if (sv && strcmp(sv, "signal") == 0)
                    tok.scopes |= K2I_SCOPE_SIGNAL;
                else if (sv && strcmp(sv, "environ") == 0)
                    tok.scopes |= K2I_SCOPE_ENVIRON;
                else
                    return kerr_setf(err, EINVAL,
                                     "'tokens[%zu].scopes[%zu]': want \"read\", \"signal\" or "
                                     "\"environ\"",
                                     idx, i);
            }
            have_scopes = true;
        } else {
            return kerr_setf(err, EINVAL, "'tokens[%zu]': unknown key '%s'", idx, key);
        }
    }
    if (!have_token)
        return kerr_setf(err, EINVAL, "'tokens[%zu]': missing 'token' or 'token_file'", idx);
    if (!have_scopes)
        tok.scopes = K2I_SCOPE_READ;
    /* Reading is implied by any scope: a token that may signal may look. */
    tok.scopes |= K2I_SCOPE_READ;
    cfg->tokens[cfg->ntokens++] = tok;
    explicit_bzero(&tok, sizeof(tok));
    return 0;
}

int
k2i_config_parse(struct k2i_config *cfg, const char *text, size_t len, struct kerr *err)
{
    json_error_t jerr;
    cleanup_with(json_decrefp) json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return kerr_setf(err, EINVAL, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root))
        return kerr_setf(err, EINVAL, "want a JSON object at the top");

    const char *key;
    json_t *v;
    int r = 0;
    long long n;
    json_object_foreach (root, key, v) {
        if (strcmp(key, "listen") == 0) {
            for (size_t i = 0; i < cfg->nlisten; i++)
                free(cfg->listen[i]);
            cfg->nlisten = 0;
            if (json_is_string(v)) {
                r = k2i_config_add_listen(cfg, json_string_value(v), err);
            } else if (json_is_array(v) && json_array_size(v) > 0) {
                size_t i;
                json_t *a;
                json_array_foreach (v, i, a) {
                    if (!json_is_string(a))
                        return kerr_setf(err, EINVAL, "'listen[%zu]': want a string", i);
                    if ((r = k2i_config_add_listen(cfg, json_string_value(a), err)) < 0)
                        break;
                }
            } else {
                r = kerr_setf(err, EINVAL, "'listen': want an address or a list of them");
            }
        } else if (strcmp(key, "read_requires_token") == 0) {
            if (!json_is_boolean(v))
                return kerr_setf(err, EINVAL, "'%s': want true or false", key);
            cfg->read_requires_token = json_is_true(v);
        } else if (strcmp(key, "privsep") == 0) {
            if (!json_is_boolean(v))
                return kerr_setf(err, EINVAL, "'%s': want true or false", key);
            cfg->privsep = json_is_true(v);
        } else if (strcmp(key, "seccomp") == 0) {
            if (!json_is_boolean(v))
                return kerr_setf(err, EINVAL, "'%s': want true or false", key);
            cfg->seccomp = json_is_true(v);
        } else if (strcmp(key, "tokens") == 0) {
            if (!json_is_array(v))
                return kerr_setf(err, EINVAL, "'tokens': want an array");
            explicit_bzero(cfg->tokens, sizeof(cfg->tokens));
            cfg->ntokens = 0;
            size_t i;
            json_t *t;
            json_array_foreach (v, i, t) {
                if ((r = parse_token(cfg, t, i, err)) < 0)
                    break;
            }
        } else if (strcmp(key, "tls") == 0) {
            if (!json_is_object(v))
                return kerr_setf(err, EINVAL, "'tls': want an object with 'cert' and 'key'");
            const char *tk;
            json_t *tv;
            json_object_foreach (v, tk, tv) {
                if (strcmp(tk, "cert") == 0)
                    r = set_str(&cfg->tls_cert, tv, "tls.cert", err);
                else if (strcmp(tk, "key") == 0)
                    r = set_str(&cfg->tls_key, tv, "tls.key", err);
                else
                    r = kerr_setf(err, EINVAL, "'tls': unknown key '%s'", tk);
                if (r < 0)
                    break;
            }
        } else if (strcmp(key, "user") == 0) {
            r = set_str(&cfg->user, v, key, err);
        } else if (strcmp(key, "sample_interval_ms") == 0) {
            if ((r = get_int(v, key, 10, 3600000, &n, err)) == 0)
                cfg->sample_interval_usec = (uint64_t)n * 1000;
        } else if (strcmp(key, "threads") == 0) {
            if ((r = get_int(v, key, 1, 64, &n, err)) == 0)
                cfg->threads = (unsigned)n;
        } else if (strcmp(key, "max_connections") == 0) {
            if ((r = get_int(v, key, 1, 65536, &n, err)) == 0)
                cfg->max_connections = (unsigned)n;
        } else if (strcmp(key, "connection_memory_limit") == 0) {
            if ((r = get_int(v, key, 32768, 16 << 20, &n, err)) == 0)
                cfg->connection_memory_limit = (size_t)n;
        } else if (strcmp(key, "fd_cache") == 0) {
            if ((r = get_int(v, key, 0, 1000000, &n, err)) == 0)
                cfg->fd_cache = (unsigned)n;
        } else if (strcmp(key, "connection_timeout") == 0) {
            if ((r = get_int(v, key, 1, 3600, &n, err)) == 0)
                cfg->connection_timeout_sec = (unsigned)n;
        } else {
            return kerr_setf(err, EINVAL, "unknown key '%s'", key);
        }
        if (r < 0)
            return r;
    }
    if (!cfg->tls_cert != !cfg->tls_key)
        return kerr_setf(err, EINVAL, "'tls': give both 'cert' and 'key'");
    return 0;
}

int
k2i_config_load(struct k2i_config *cfg, const char *path, struct kerr *err)
{
    cleanup_free char *text = NULL;
    size_t len;
    int r = read_file_alloc(path, 1 << 20, &text, &len);
    if (r < 0)
        return kerr_set(err, -r, "config '%s'", path);
    r = k2i_config_parse(cfg, text, len, err);
    if (r < 0)
        return kerr_prefix(err, "config '%s'", path);
    char *p = strdup(path);
    if (!p)
        return kerr_set(err, ENOMEM, "config");
    free(cfg->config_path);
    cfg->config_path = p;
    return 0;
}
