/* test_client_conf.c — the client property allow-list: refusals, env refs, files, widening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kafka/client_conf.h"
#include "base/config.h"
#include "base/err.h"
#include "kafka/kafka.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *parse(const char *text)
{
        json_error_t jerr;
        json_t *j = json_loads(text, 0, &jerr);
        assert_non_null(j);
        return j;
}

/* Checks @p text for @p clients under @p policy; @returns the kp_err, errstr filled. */
static int check(const char *text, unsigned clients, const kp_client_policy_t *policy, char *errstr,
                 size_t size)
{
        kp_client_conf_ctx_t ctx = {(kp_client_kind_t)clients, policy};
        json_t *config = parse(text);
        int err;

        errstr[0] = '\0';
        err = kp_client_conf_check(config, &ctx, errstr, size);
        json_decref(config);
        return err;
}

/* @returns the value librdkafka would get for {@p name: @p value} (static buffer). */
static const char *value_of(const char *name, const char *value, const kp_client_policy_t *policy,
                            int *from_env, char *errstr, size_t size)
{
        static char buf[KP_KAFKA_CONFIG_VALUE_MAX];
        kp_client_conf_ctx_t ctx = {KP_CLIENT_ANY, policy};
        json_t *v = json_string(value);
        int err = kp_client_conf_value(name, v, &ctx, buf, sizeof(buf), from_env, errstr, size);
        json_decref(v);
        return err ? NULL : buf;
}

static void test_allow_list_takes_what_reaching_a_cluster_needs(void **state)
{
        char errstr[512];
        (void)state;

        assert_int_equal(check("{\"security.protocol\": \"SASL_SSL\", \"sasl.mechanism\": "
                               "\"SCRAM-SHA-512\", \"sasl.username\": \"u\", \"sasl.password\": "
                               "\"p\", \"ssl.ca.pem\": \"-----BEGIN CERTIFICATE-----\","
                               " \"ssl.key.pem\": \"k\", \"ssl.certificate.pem\": \"c\","
                               " \"ssl.endpoint.identification.algorithm\": \"https\","
                               " \"client.id\": \"me\", \"socket.timeout.ms\": 30000,"
                               " \"session.timeout.ms\": 45000, \"fetch.max.bytes\": 1048576,"
                               " \"isolation.level\": \"read_committed\", \"linger.ms\": 5,"
                               " \"compression.type\": \"zstd\", \"batch.size\": 100000,"
                               " \"reconnect.backoff.max.ms\": 1000,"
                               " \"sasl.oauthbearer.method\": \"oidc\","
                               " \"sasl.oauthbearer.client.id\": \"id\","
                               " \"sasl.oauthbearer.client.secret\": \"s\","
                               " \"sasl.oauthbearer.token.endpoint.url\": "
                               "\"https://idp.example/token\"}",
                               KP_CLIENT_ANY, NULL, errstr, sizeof(errstr)),
                         0);
        assert_int_equal(check("{}", KP_CLIENT_ANY, NULL, errstr, sizeof(errstr)), 0);
        assert_int_equal(kp_client_conf_check(NULL, NULL, errstr, sizeof(errstr)), 0);
}

static void test_code_loading_properties_are_refused_naming_them(void **state)
{
        static const char *const names[] = {"plugin.library.paths", "ssl.engine.location",
                                            "ssl.providers", "ssl.engine.id", "interceptors"};
        char text[256], errstr[512], want[128];
        size_t i;
        (void)state;

        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                snprintf(text, sizeof(text), "{\"client.id\": \"x\", \"%s\": \"/tmp/evil.so\"}",
                         names[i]);
                assert_int_equal(check(text, KP_CLIENT_ANY, NULL, errstr, sizeof(errstr)),
                                 KP_ERR_INVALID);
                snprintf(want, sizeof(want), "config.%s: refused: loads", names[i]);
                assert_non_null(strstr(errstr, want));
        }
}

static void test_validate_refuses_a_plugin_before_librdkafka_tries_to_load_it(void **state)
{
        json_t *config = parse("{\"plugin.library.paths\": \"/nonexistent/kplane-test.so\"}");
        char errstr[512];
        (void)state;

        /* librdkafka would answer "Failed to load plugin ..." after its dlopen. */
        assert_int_equal(kp_kafka_config_validate(config, errstr, sizeof(errstr)), KP_ERR_INVALID);
        assert_non_null(strstr(errstr, "config.plugin.library.paths: refused"));
        assert_null(strstr(errstr, "load plugin"));
        /* and a conf built from a stored config refuses it too */
        assert_null(kp_kafka_conf_new("h:1", config, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "config.plugin.library.paths: refused"));
        json_decref(config);
}

static void test_kinit_cmd_is_refused_and_kerberos_names_cannot_reach_the_shell(void **state)
{
        char errstr[512];
        int from_env;
        (void)state;

        assert_int_equal(check("{\"sasl.mechanisms\": \"GSSAPI\", \"sasl.kerberos.kinit.cmd\": "
                               "\"touch pwned\"}",
                               KP_CLIENT_ANY, NULL, errstr, sizeof(errstr)),
                         KP_ERR_INVALID);
        assert_non_null(strstr(errstr, "config.sasl.kerberos.kinit.cmd: refused: is a shell"));
        /* librdkafka pastes the principal into its default kinit command */
        assert_null(value_of("sasl.kerberos.principal", "x; touch pwned", NULL, &from_env, errstr,
                             sizeof(errstr)));
        assert_non_null(strstr(errstr, "config.sasl.kerberos.principal:"));
        assert_null(value_of("sasl.kerberos.service.name", "$(id)", NULL, &from_env, errstr,
                             sizeof(errstr)));
        assert_string_equal(value_of("sasl.kerberos.principal", "kafka/host.example@EXAMPLE.COM",
                                     NULL, &from_env, errstr, sizeof(errstr)),
                            "kafka/host.example@EXAMPLE.COM");
}

static void test_logging_properties_are_refused(void **state)
{
        static const char *const texts[] = {
                "{\"debug\": \"all\"}", "{\"log_level\": 7}", "{\"log.queue\": true}",
                "{\"log.connection.close\": true}", "{\"log.thread.name\": true}"};
        char errstr[512];
        size_t i;
        (void)state;

        for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
                assert_int_equal(check(texts[i], KP_CLIENT_ANY, NULL, errstr, sizeof(errstr)),
                                 KP_ERR_INVALID);
                assert_non_null(strstr(errstr, "changes kplane's logging"));
        }
}

static void test_unlisted_property_is_refused_naming_it(void **state)
{
        char errstr[512];
        (void)state;

        assert_int_equal(check("{\"offset.store.path\": \"/tmp/x\"}", KP_CLIENT_ANY, NULL, errstr,
                               sizeof(errstr)),
                         KP_ERR_INVALID);
        assert_non_null(strstr(errstr, "config.offset.store.path: refused"));
        assert_int_equal(
                check("{\"no.such.prop\": 1}", KP_CLIENT_ANY, NULL, errstr, sizeof(errstr)),
                KP_ERR_INVALID);
        assert_non_null(strstr(errstr, "config.no.such.prop: not a property"));
        assert_non_null(strstr(errstr, "KPLANE_CLIENT_CONFIG_ALLOW"));
}

static void test_operator_widens_the_list_but_not_with_kplanes_own(void **state)
{
        char errstr[512];
        kp_client_policy_t *p;
        (void)state;

        p = kp_client_policy_new(" debug , allow.auto.create.topics,", NULL, errstr,
                                 sizeof(errstr));
        assert_non_null(p);
        assert_int_equal(check("{\"debug\": \"broker\", \"allow.auto.create.topics\": false}",
                               KP_CLIENT_ANY, p, errstr, sizeof(errstr)),
                         0);
        assert_int_equal(check("{\"log_level\": 7}", KP_CLIENT_ANY, p, errstr, sizeof(errstr)),
                         KP_ERR_INVALID);
        /* widening a file property does not lift the directory rule */
        kp_client_policy_destroy(p);
        p = kp_client_policy_new("ssl.ca.location", NULL, errstr, sizeof(errstr));
        assert_non_null(p);
        assert_int_equal(check("{\"ssl.ca.location\": \"/etc/passwd\"}", KP_CLIENT_ANY, p, errstr,
                               sizeof(errstr)),
                         KP_ERR_INVALID);
        kp_client_policy_destroy(p);

        assert_null(kp_client_policy_new("group.id", NULL, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "group.id is set by kplane"));
        assert_null(kp_client_policy_new("test.mock.num.brokers", NULL, errstr, sizeof(errstr)));
        assert_null(kp_client_policy_new("Bad Name", NULL, errstr, sizeof(errstr)));
        /* without a policy: the built-in list */
        assert_int_equal(
                check("{\"debug\": \"broker\"}", KP_CLIENT_ANY, NULL, errstr, sizeof(errstr)),
                KP_ERR_INVALID);
        kp_client_policy_destroy(NULL);
}

static void test_installed_policy_is_what_the_kafka_builders_use(void **state)
{
        json_t *config = parse("{\"debug\": \"broker\"}");
        char errstr[512];
        (void)state;

        assert_int_equal(kp_kafka_config_validate(config, errstr, sizeof(errstr)), KP_ERR_INVALID);
        setenv("KPLANE_CLIENT_CONFIG_ALLOW", "debug", 1);
        assert_int_equal(kp_client_policy_install_from_env(errstr, sizeof(errstr)), 0);
        assert_int_equal(kp_kafka_config_validate(config, errstr, sizeof(errstr)), 0);
        unsetenv("KPLANE_CLIENT_CONFIG_ALLOW");
        kp_client_policy_install(NULL);
        assert_int_equal(kp_kafka_config_validate(config, errstr, sizeof(errstr)), KP_ERR_INVALID);
        json_decref(config);
}

static void test_env_reference_resolves_only_kplane_secret_variables(void **state)
{
        char errstr[512];
        const char *v;
        int from_env = 0;
        (void)state;

        setenv("KPLANE_SECRET_UT_PW", "s3cr3t-value", 1);
        v = value_of("sasl.password", "${env:KPLANE_SECRET_UT_PW}", NULL, &from_env, errstr,
                     sizeof(errstr));
        assert_non_null(v);
        assert_string_equal(v, "s3cr3t-value");
        assert_int_equal(from_env, 1);

        /* other variables are not a client's to read */
        assert_null(
                value_of("sasl.password", "${env:HOME}", NULL, &from_env, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "config.sasl.password: may only reference"));
        assert_null(value_of("sasl.password", "${env:KPLANE_API_TOKEN}", NULL, &from_env, errstr,
                             sizeof(errstr)));
        assert_null(value_of("sasl.password", "${env:KPLANE_SECRET_}", NULL, &from_env, errstr,
                             sizeof(errstr)));
        assert_null(value_of("sasl.password", "${env:KPLANE_SECRET_UT_PW}x", NULL, &from_env,
                             errstr, sizeof(errstr)));
        assert_null(value_of("sasl.password", "${env:kplane_secret_ut_pw}", NULL, &from_env, errstr,
                             sizeof(errstr)));
        /* an unset one is refused, naming the property and the variable */
        unsetenv("KPLANE_SECRET_UT_NONE");
        assert_null(value_of("sasl.password", "${env:KPLANE_SECRET_UT_NONE}", NULL, &from_env,
                             errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "config.sasl.password:"));
        assert_non_null(strstr(errstr, "KPLANE_SECRET_UT_NONE is not set"));
        /* only secrets: a plain property would show (or send) the value where it should not */
        assert_null(value_of("client.id", "${env:KPLANE_SECRET_UT_PW}", NULL, &from_env, errstr,
                             sizeof(errstr)));
        assert_non_null(strstr(errstr, "config.client.id: only a secret property"));
        assert_null(strstr(errstr, "s3cr3t-value"));
        unsetenv("KPLANE_SECRET_UT_PW");
}

static void test_env_reference_reaches_librdkafka_only_in_a_built_conf(void **state)
{
        json_t *config = parse("{\"security.protocol\": \"SASL_PLAINTEXT\", \"sasl.mechanism\": "
                               "\"PLAIN\", \"sasl.username\": \"u\","
                               " \"sasl.password\": \"${env:KPLANE_SECRET_UT_BUILD}\"}");
        char errstr[512], v[256];
        size_t vsize = sizeof(v);
        rd_kafka_conf_t *conf;
        (void)state;

        unsetenv("KPLANE_SECRET_UT_BUILD");
        assert_int_equal(kp_kafka_config_validate(config, errstr, sizeof(errstr)), KP_ERR_INVALID);
        assert_non_null(strstr(errstr, "config.sasl.password:"));
        setenv("KPLANE_SECRET_UT_BUILD", "from-the-env", 1);
        assert_int_equal(kp_kafka_config_validate(config, errstr, sizeof(errstr)), 0);
        conf = kp_kafka_conf_new("h:1", config, errstr, sizeof(errstr));
        assert_non_null(conf);
        assert_int_equal(rd_kafka_conf_get(conf, "sasl.password", v, &vsize), RD_KAFKA_CONF_OK);
        assert_string_equal(v, "from-the-env");
        rd_kafka_conf_destroy(conf);
        /* the reference is what is kept: the config object is untouched */
        assert_string_equal(json_string_value(json_object_get(config, "sasl.password")),
                            "${env:KPLANE_SECRET_UT_BUILD}");
        unsetenv("KPLANE_SECRET_UT_BUILD");
        json_decref(config);
}

/* Fixture: a files directory with one certificate, a link out of it, and a subdirectory. */
typedef struct files {
        char dir[PATH_MAX];
        char real[PATH_MAX];
        kp_client_policy_t *policy;
} files_t;

static int setup_files(void **state)
{
        files_t *f = calloc(1, sizeof(*f));
        char path[PATH_MAX + 32], errstr[512];
        FILE *fp;

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/kp-cc-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        assert_non_null(realpath(f->dir, f->real));
        snprintf(path, sizeof(path), "%s/ca.pem", f->dir);
        fp = fopen(path, "w");
        assert_non_null(fp);
        fputs("-----BEGIN CERTIFICATE-----\n", fp);
        fclose(fp);
        snprintf(path, sizeof(path), "%s/passwd-link", f->dir);
        assert_int_equal(symlink("/etc/passwd", path), 0);
        snprintf(path, sizeof(path), "%s/has space.pem", f->dir);
        fp = fopen(path, "w");
        assert_non_null(fp);
        fclose(fp);
        f->policy = kp_client_policy_new(NULL, f->dir, errstr, sizeof(errstr));
        assert_non_null(f->policy);
        *state = f;
        return 0;
}

static int teardown_files(void **state)
{
        files_t *f = *state;
        char path[PATH_MAX + 32];

        snprintf(path, sizeof(path), "%s/ca.pem", f->dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/passwd-link", f->dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/has space.pem", f->dir);
        unlink(path);
        rmdir(f->dir);
        kp_client_policy_destroy(f->policy);
        free(f);
        return 0;
}

static void test_file_properties_are_off_without_a_files_dir(void **state)
{
        static const char *const names[] = {"ssl.ca.location",  "ssl.certificate.location",
                                            "ssl.key.location", "ssl.keystore.location",
                                            "ssl.crl.location", "sasl.kerberos.keytab"};
        char errstr[512], want[128];
        int from_env;
        size_t i;
        (void)state;

        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                assert_null(value_of(names[i], "/etc/ssl/certs/ca-certificates.crt", NULL,
                                     &from_env, errstr, sizeof(errstr)));
                snprintf(want, sizeof(want), "config.%s: names a file", names[i]);
                assert_non_null(strstr(errstr, want));
                assert_non_null(strstr(errstr, "KPLANE_CLIENT_FILES_DIR"));
        }
        /* probe reads the system CA store only: no path of the client's */
        assert_string_equal(
                value_of("ssl.ca.location", "probe", NULL, &from_env, errstr, sizeof(errstr)),
                "probe");
        assert_null(
                kp_client_policy_new(NULL, "/nonexistent/kplane-files", errstr, sizeof(errstr)));
}

static void test_file_outside_the_dir_gets_one_answer_whether_or_not_it_exists(void **state)
{
        files_t *f = *state;
        char first[512], errstr[512], path[PATH_MAX + 64];
        const char *outside[] = {"/etc/shadow",      "/nonexistent", "/etc/passwd",   "passwd-link",
                                 "../../etc/passwd", "missing.pem",  "has space.pem", NULL};
        int from_env;
        size_t i;

        assert_null(value_of("ssl.ca.location", "/etc/shadow", f->policy, &from_env, first,
                             sizeof(first)));
        for (i = 0; i < 7; i++) {
                assert_null(value_of("ssl.ca.location", outside[i], f->policy, &from_env, errstr,
                                     sizeof(errstr)));
                assert_string_equal(errstr, first);
        }
        snprintf(path, sizeof(path), "%s/../%s/../../etc/shadow", f->dir, f->dir + 5);
        assert_null(
                value_of("ssl.ca.location", path, f->policy, &from_env, errstr, sizeof(errstr)));
        assert_string_equal(errstr, first);
        assert_non_null(strstr(first, "config.ssl.ca.location: must name a file under"));
}

static void test_file_under_the_dir_resolves_to_its_realpath(void **state)
{
        files_t *f = *state;
        char errstr[512], path[PATH_MAX + 64], want[PATH_MAX + 64];
        int from_env;

        snprintf(want, sizeof(want), "%s/ca.pem", f->real);
        assert_string_equal(
                value_of("ssl.ca.location", "ca.pem", f->policy, &from_env, errstr, sizeof(errstr)),
                want);
        snprintf(path, sizeof(path), "%s/./ca.pem", f->dir);
        assert_string_equal(value_of("ssl.certificate.location", path, f->policy, &from_env, errstr,
                                     sizeof(errstr)),
                            want);
        /* the directory itself (a CA directory) */
        assert_string_equal(
                value_of("ssl.ca.location", f->dir, f->policy, &from_env, errstr, sizeof(errstr)),
                f->real);
}

static void test_consumer_and_producer_properties_stay_with_their_clients(void **state)
{
        char errstr[512];
        (void)state;

        assert_int_equal(
                check("{\"linger.ms\": 5}", KP_CLIENT_CONSUMER, NULL, errstr, sizeof(errstr)),
                KP_ERR_INVALID);
        assert_non_null(strstr(errstr, "config.linger.ms: a producer property"));
        assert_int_equal(check("{\"session.timeout.ms\": 45000}", KP_CLIENT_PRODUCER, NULL, errstr,
                               sizeof(errstr)),
                         KP_ERR_INVALID);
        assert_non_null(strstr(errstr, "config.session.timeout.ms: a consumer property"));
        assert_int_equal(check("{\"linger.ms\": 5, \"session.timeout.ms\": 45000, \"client.id\": "
                               "\"x\"}",
                               KP_CLIENT_ANY, NULL, errstr, sizeof(errstr)),
                         0);
        assert_int_equal(check("{\"compression.type\": \"lz4\", \"client.id\": \"x\"}",
                               KP_CLIENT_PRODUCER, NULL, errstr, sizeof(errstr)),
                         0);
}

static void test_token_url_must_be_http_or_https(void **state)
{
        char errstr[512];
        int from_env;
        (void)state;

        assert_null(value_of("sasl.oauthbearer.token.endpoint.url", "file:///etc/shadow", NULL,
                             &from_env, errstr, sizeof(errstr)));
        assert_non_null(strstr(errstr, "config.sasl.oauthbearer.token.endpoint.url: must be"));
        assert_null(value_of("sasl.oauthbearer.token.endpoint.url", "gopher://x/", NULL, &from_env,
                             errstr, sizeof(errstr)));
        assert_non_null(value_of("sasl.oauthbearer.token.endpoint.url", "HTTPS://idp/token", NULL,
                                 &from_env, errstr, sizeof(errstr)));
}

static void test_secret_and_security_properties_are_named_as_api_md_says(void **state)
{
        (void)state;

        assert_true(kp_client_conf_secret("sasl.password"));
        assert_true(kp_client_conf_secret("ssl.key.pem"));
        assert_true(kp_client_conf_secret("sasl.oauthbearer.client.secret"));
        assert_true(kp_client_conf_secret("sasl.oauthbearer.config"));
        assert_true(kp_client_conf_secret("ssl.keystore.password"));
        assert_true(kp_client_conf_secret("some.widened.token"));
        assert_false(kp_client_conf_secret("sasl.username"));
        assert_false(kp_client_conf_secret("client.id"));
        assert_true(kp_client_conf_security("security.protocol"));
        assert_true(kp_client_conf_security("sasl.username"));
        assert_true(kp_client_conf_security("ssl.ca.pem"));
        assert_true(kp_client_conf_security("enable.ssl.certificate.verification"));
        assert_false(kp_client_conf_security("client.id"));
        assert_false(kp_client_conf_security("linger.ms"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_allow_list_takes_what_reaching_a_cluster_needs),
                cmocka_unit_test(test_code_loading_properties_are_refused_naming_them),
                cmocka_unit_test(test_validate_refuses_a_plugin_before_librdkafka_tries_to_load_it),
                cmocka_unit_test(
                        test_kinit_cmd_is_refused_and_kerberos_names_cannot_reach_the_shell),
                cmocka_unit_test(test_logging_properties_are_refused),
                cmocka_unit_test(test_unlisted_property_is_refused_naming_it),
                cmocka_unit_test(test_operator_widens_the_list_but_not_with_kplanes_own),
                cmocka_unit_test(test_installed_policy_is_what_the_kafka_builders_use),
                cmocka_unit_test(test_env_reference_resolves_only_kplane_secret_variables),
                cmocka_unit_test(test_env_reference_reaches_librdkafka_only_in_a_built_conf),
                cmocka_unit_test(test_file_properties_are_off_without_a_files_dir),
                cmocka_unit_test_setup_teardown(
                        test_file_outside_the_dir_gets_one_answer_whether_or_not_it_exists,
                        setup_files, teardown_files),
                cmocka_unit_test_setup_teardown(test_file_under_the_dir_resolves_to_its_realpath,
                                                setup_files, teardown_files),
                cmocka_unit_test(test_consumer_and_producer_properties_stay_with_their_clients),
                cmocka_unit_test(test_token_url_must_be_http_or_https),
                cmocka_unit_test(test_secret_and_security_properties_are_named_as_api_md_says),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
