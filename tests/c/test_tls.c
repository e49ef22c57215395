/*
 * test_tls.c — TLS configurations (no network): one shared context per distinct
 * configuration, SSL_CERT_FILE / SSL_CERT_DIR part of the identity, clear errors for unusable
 * bundles and identities, a bounded registry. Run under valgrind it also shows that every
 * reference is released.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hr.h"

#include "check.h"

static hr_tls_t *get(const hr_tls_config_t *cfg, int *err, char *msg)
{
    *err = 0;
    msg[0] = '\0';
    return hr_tls_get(cfg, err, msg, 256);
}

int main(void)
{
    int err;
    char msg[256];
    unsetenv("SSL_CERT_FILE");
    unsetenv("SSL_CERT_DIR");

    /* the default configuration is shared */
    hr_tls_t *a = get(NULL, &err, msg);
    hr_tls_config_t def = {.verify = 1};
    hr_tls_t *b = get(&def, &err, msg);
    CHECK(a != NULL && a == b);

    /* verify=0 is another configuration */
    hr_tls_config_t insecure = {.verify = 0};
    hr_tls_t *c = get(&insecure, &err, msg);
    CHECK(c != NULL && c != a);

    /* with verify=0 the CA bundle is ignored: same as plain verify=0 */
    hr_tls_config_t insecure_ca = {.verify = 0, .ca_pem = "junk", .ca_pem_len = 4};
    hr_tls_t *d = get(&insecure_ca, &err, msg);
    CHECK(d == c);

    /* SSL_CERT_FILE is part of the identity: the trust store differs */
    setenv("SSL_CERT_FILE", "/nonexistent/ca.pem", 1);
    hr_tls_t *e = get(NULL, &err, msg);
    CHECK(e != NULL && e != a);
    unsetenv("SSL_CERT_FILE");
    hr_tls_t *f = get(NULL, &err, msg);
    CHECK(f == a);

    /* a bundle with no certificate is an error, not a silent fallback */
    static const char garbage[] = "-----BEGIN CERTIFICATE-----\nnot base64!\n"
                                  "-----END CERTIFICATE-----\n";
    hr_tls_config_t bad_ca = {.verify = 1, .ca_pem = garbage, .ca_pem_len = sizeof(garbage) - 1};
    CHECK(get(&bad_ca, &err, msg) == NULL);
    CHECK(err == HR_E_TLS_CONFIG && strstr(msg, "no X.509 certificate") != NULL);
    hr_tls_config_t empty_ca = {.verify = 1, .ca_pem = "", .ca_pem_len = 0};
    CHECK(get(&empty_ca, &err, msg) == NULL && err == HR_E_TLS_CONFIG);

    /* an identity without a key (or without a certificate) is an error, even with verify=0 */
    hr_tls_config_t bad_id = {.verify = 0, .identity_pem = garbage,
                              .identity_pem_len = sizeof(garbage) - 1};
    CHECK(get(&bad_id, &err, msg) == NULL);
    CHECK(err == HR_E_TLS_CONFIG && strstr(msg, "client identity") != NULL);

    /* the registry is bounded; references held by users stay valid after eviction */
    hr_tls_t *many[40];
    for (int i = 0; i < 40; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/nonexistent/%d.pem", i);
        setenv("SSL_CERT_FILE", path, 1);
        many[i] = get(NULL, &err, msg);
        CHECK(many[i] != NULL);
    }
    unsetenv("SSL_CERT_FILE");
    for (int i = 0; i < 40; i++)
        hr_tls_release(many[i]);

    /* a and b are the same object with two references; all of ours go back */
    hr_tls_release(a);
    hr_tls_release(b);
    hr_tls_release(c);
    hr_tls_release(d);
    hr_tls_release(e);
    hr_tls_release(f);

    if (failures == 0)
        printf("test_tls: all checks passed\n");
    return failures == 0 ? 0 : 1;
}
