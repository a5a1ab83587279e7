/* bench_runtime.c — runtime throughput vs a raw librdkafka consumer, and the footprint of 1,000
 * idle tasks. */
#include "runtime/runtime.h"
#include "base/util.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * The mock clusters live in a child process, so what is measured here (RSS, threads,
 * CPU) is the runtime's alone. The child prints one bootstrap per line and exits when
 * its stdin closes.
 */
static pid_t mock_spawn(int clusters, const char *topic, int partitions, int msgs_per_part,
                        int value_size, char boot[][256], FILE **ctl)
{
        int up[2], down[2], c;
        pid_t pid;
        if (pipe(up) || pipe(down))
                exit(1);
        pid = fork();
        if (pid == 0) {
                rd_kafka_t *hosts[8];
                rd_kafka_mock_cluster_t *mcs[8];
                char err[256], buf[1];
                FILE *out = fdopen(up[1], "w");
                close(up[0]);
                close(down[1]);
                for (c = 0; c < clusters; c++) {
                        rd_kafka_conf_t *conf = rd_kafka_conf_new();
                        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
                        hosts[c] = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
                        mcs[c] = rd_kafka_mock_cluster_new(hosts[c], 1);
                        rd_kafka_mock_topic_create(mcs[c], topic, partitions, 1);
                        if (msgs_per_part > 0) {
                                /* fill it with a producer of our own */
                                rd_kafka_conf_t *pc = rd_kafka_conf_new();
                                char *val = calloc(1, (size_t)value_size);
                                rd_kafka_t *prk;
                                int p, i;
                                rd_kafka_conf_set(pc, "bootstrap.servers",
                                                  rd_kafka_mock_cluster_bootstraps(mcs[c]), err,
                                                  sizeof(err));
                                rd_kafka_conf_set(pc, "linger.ms", "20", err, sizeof(err));
                                rd_kafka_conf_set(pc, "batch.num.messages", "10000", err,
                                                  sizeof(err));
                                rd_kafka_conf_set(pc, "log_level", "0", err, sizeof(err));
                                prk = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
                                for (i = 0; i < msgs_per_part; i++)
                                        for (p = 0; p < partitions; p++) {
                                                char key[16];
                                                snprintf(key, sizeof(key), "%d", i);
                                                while (rd_kafka_producev(
                                                               prk, RD_KAFKA_V_TOPIC(topic),
                                                               RD_KAFKA_V_PARTITION(p),
                                                               RD_KAFKA_V_KEY(key, strlen(key)),
                                                               RD_KAFKA_V_VALUE(val,
                                                                                (size_t)value_size),
                                                               RD_KAFKA_V_MSGFLAGS(
                                                                       RD_KAFKA_MSG_F_COPY),
                                                               RD_KAFKA_V_END) ==
                                                       RD_KAFKA_RESP_ERR__QUEUE_FULL)
                                                        rd_kafka_poll(prk, 10);
                                        }
                                rd_kafka_flush(prk, 120000);
                                rd_kafka_destroy(prk);
                                free(val);
                        }
                        fprintf(out, "%s\n", rd_kafka_mock_cluster_bootstraps(mcs[c]));
                        fflush(out);
                }
                while (read(down[0], buf, 1) > 0)
                        ;
                _exit(0);
        }
        close(up[1]);
        close(down[0]);
        {
                FILE *in = fdopen(up[0], "r");
                for (c = 0; c < clusters; c++) {
                        if (!fgets(boot[c], 256, in))
                                exit(1);
                        boot[c][strcspn(boot[c], "\n")] = '\0';
                }
                fclose(in);
        }
        *ctl = fdopen(down[1], "w");
        return pid;
}

static void mock_kill(pid_t pid, FILE *ctl)
{
        fclose(ctl);
        waitpid(pid, NULL, 0);
}

/* A raw consumer on all partitions: consumer_poll until @p total messages. */
static double raw_consume(const char *boot, const char *topic, int partitions, int64_t total)
{
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
        rd_kafka_t *rk;
        int64_t n = 0, bytes = 0, t0;
        int p;
        rd_kafka_conf_set(conf, "bootstrap.servers", boot, err, sizeof(err));
        rd_kafka_conf_set(conf, "group.id", "bench-raw", err, sizeof(err));
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err));
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
        rd_kafka_poll_set_consumer(rk);
        for (p = 0; p < partitions; p++)
                rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        t0 = kp_time_mono_ns();
        rd_kafka_assign(rk, l);
        while (n < total) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
                if (!m)
                        continue;
                if (!m->err) {
                        n++;
                        bytes += (int64_t)(m->len + m->key_len);
                }
                rd_kafka_message_destroy(m);
        }
        double secs = (double)(kp_time_mono_ns() - t0) / 1e9;
        rd_kafka_topic_partition_list_destroy(l);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return (double)n / secs;
}

static json_t *plan_for(int tasks, int clusters, const char *topic, int partitions)
{
        json_t *plan = json_pack("{s:i, s:i, s:[]}", "version", 1, "parallelism", tasks, "tasks");
        json_t *ta = json_object_get(plan, "tasks");
        int t, c, p, k = 0;
        for (t = 0; t < tasks; t++)
                json_array_append_new(ta, json_pack("{s:i, s:[]}", "task", t, "partitions"));
        for (c = 0; c < clusters; c++)
                for (p = 0; p < partitions; p++, k++) {
                        char name[16];
                        snprintf(name, sizeof(name), "c%d", c);
                        json_array_append_new(
                                json_object_get(json_array_get(ta, (size_t)(k % tasks)),
                                                "partitions"),
                                json_pack("{s:s, s:s, s:i}", "cluster", name, "topic", topic,
                                          "partition", p));
                }
        return plan;
}

static json_t *clusters_for(char boot[][256], int clusters)
{
        json_t *o = json_object();
        int c;
        for (c = 0; c < clusters; c++) {
                char name[16];
                snprintf(name, sizeof(name), "c%d", c);
                json_object_set_new(
                        o, name, json_pack("{s:s, s:{}}", "bootstrap_servers", boot[c], "config"));
        }
        return o;
}

static int64_t group_total(kp_runtime_t *rt, const char *g)
{
        json_t *st = kp_runtime_group_status(rt, g);
        int64_t n = json_integer_value(json_object_get(json_object_get(st, "totals"), "messages"));
        json_decref(st);
        return n;
}

static double runtime_consume(const char *boot, int partitions, int tasks, int64_t total,
                              const char *gname)
{
        char bootv[1][256], err[256];
        kp_runtime_t *rt = kp_runtime_new(err, sizeof(err));
        json_t *cls, *plan, *grp;
        int64_t t0, n = 0;
        snprintf(bootv[0], sizeof(bootv[0]), "%s", boot);
        cls = clusters_for(bootv, 1);
        plan = plan_for(tasks, 1, "bench", partitions);
        grp = json_pack("{s:s, s:{s:s}}", "name", gname, "sink", "type", "discard");
        t0 = kp_time_mono_ns();
        if (kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err))) {
                fprintf(stderr, "start: %s\n", err);
                exit(1);
        }
        while ((n = group_total(rt, gname)) < total)
                usleep(2000);
        double secs = (double)(kp_time_mono_ns() - t0) / 1e9;
        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        return (double)n / secs;
}

/* RSS in KiB and thread count of this process from /proc/self/status. */
static void self_status(long *rss_kb, long *threads)
{
        char line[256];
        FILE *f = fopen("/proc/self/status", "r");
        while (f && fgets(line, sizeof(line), f)) {
                sscanf(line, "VmRSS: %ld", rss_kb);
                sscanf(line, "Threads: %ld", threads);
        }
        if (f)
                fclose(f);
}

static double cpu_secs(void)
{
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int bench_throughput(int per_part)
{
        char boot[1][256];
        FILE *ctl;
        const int parts = 30;
        int64_t total = (int64_t)parts * per_part;
        double raw[2], rtm[2], best_raw, best_rt;
        pid_t pid = mock_spawn(1, "bench", parts, per_part, 100, boot, &ctl);
        int i;
        for (i = 0; i < 2; i++) {
                char g[32];
                raw[i] = raw_consume(boot[0], "bench", parts, total);
                snprintf(g, sizeof(g), "bench-rt-%d", i);
                rtm[i] = runtime_consume(boot[0], parts, 30, total, g);
                printf("round %d: raw %.0f msg/s, runtime %.0f msg/s\n", i, raw[i], rtm[i]);
        }
        best_raw = raw[0] > raw[1] ? raw[0] : raw[1];
        best_rt = rtm[0] > rtm[1] ? rtm[0] : rtm[1];
        printf("throughput: %lld messages x 100 B over 30 partitions; best raw %.0f msg/s, "
               "best runtime (30 tasks, discard) %.0f msg/s, ratio %.2f (target >= 0.9)\n",
               (long long)total, best_raw, best_rt, best_rt / best_raw);
        mock_kill(pid, ctl);
        return best_rt / best_raw >= 0.9 ? 0 : 2;
}

static int bench_footprint(int idle_s)
{
        char boot[3][256], err[256];
        FILE *ctl;
        kp_runtime_t *rt;
        json_t *cls, *plan, *grp;
        long rss0 = 0, th0 = 0, rss1 = 0, th1 = 0;
        double cpu0, cpu1;
        int64_t t0;
        pid_t pid = mock_spawn(3, "idle", 334, 0, 0, boot, &ctl);

        self_status(&rss0, &th0);
        rt = kp_runtime_new(err, sizeof(err));
        cls = clusters_for(boot, 3);
        plan = plan_for(1000, 3, "idle", 334); /* 1,002 partitions, 1,000 tasks */
        grp = json_pack("{s:s, s:{s:s}}", "name", "bench-idle", "sink", "type", "discard");
        t0 = kp_time_mono_ns();
        if (kp_runtime_group_start(rt, grp, plan, cls, err, sizeof(err))) {
                fprintf(stderr, "start: %s\n", err);
                return 1;
        }
        printf("footprint: started 1,000 tasks over 3 clusters in %.2f s\n",
               (double)(kp_time_mono_ns() - t0) / 1e9);
        sleep(3); /* settle: connections, first fetches */
        {
                json_t *st = kp_runtime_group_status(rt, "bench-idle"), *pp;
                size_t i, known = 0;
                json_array_foreach(json_object_get(st, "partitions"), i, pp) known +=
                        json_is_integer(json_object_get(pp, "high_watermark"));
                printf("footprint: %zu tasks, %zu partitions, %zu of them fetched (watermark "
                       "known)\n",
                       json_array_size(json_object_get(st, "tasks")),
                       json_array_size(json_object_get(st, "partitions")), known);
                json_decref(st);
        }
        cpu0 = cpu_secs();
        t0 = kp_time_mono_ns();
        sleep((unsigned)idle_s);
        cpu1 = cpu_secs();
        self_status(&rss1, &th1);
        double wall = (double)(kp_time_mono_ns() - t0) / 1e9;
        printf("footprint: RSS %.1f MB (before start %.1f MB; target <= 256), threads %ld "
               "(before %ld; target <= 1100), idle CPU %.1f%% of one core over %.0f s\n",
               (double)rss1 / 1024, (double)rss0 / 1024, th1, th0, 100.0 * (cpu1 - cpu0) / wall,
               wall);
        t0 = kp_time_mono_ns();
        if (kp_runtime_group_stop(rt, "bench-idle", 10000, err, sizeof(err)))
                fprintf(stderr, "stop: %s\n", err);
        printf("footprint: stop took %.2f s (target <= 10)\n",
               (double)(kp_time_mono_ns() - t0) / 1e9);
        kp_runtime_destroy(rt);
        json_decref(cls);
        json_decref(plan);
        json_decref(grp);
        mock_kill(pid, ctl);
        return rss1 / 1024 <= 256 && th1 <= 1100 ? 0 : 2;
}

int main(int argc, char **argv)
{
        const char *what = argc > 1 ? argv[1] : "all";
        int per_part = argc > 2 ? atoi(argv[2]) : 20000;
        int r = 0;
        signal(SIGPIPE, SIG_IGN);
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (!strcmp(what, "all") || !strcmp(what, "throughput"))
                r |= bench_throughput(per_part);
        if (!strcmp(what, "all") || !strcmp(what, "footprint"))
                r |= bench_footprint(argc > 3 ? atoi(argv[3]) : 10);
        return r;
}
