// Times Kafka's assignors per topology, each in its own JVM so a slow one can be cut off.
package kplane.bench;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

public final class Bench {
    static final int[] PARTITIONS = {1_000, 100_000, 1_000_000};
    static final int[] TASKS = {10, 1_000, 10_000};
    static final long DEFAULT_COMBO_LIMIT_S = 60;
    static final long TOTAL_BUDGET_S = 170;
    /* Timed runs: up to this many, fewer when one run is slow. */
    static final int MAX_RUNS = 5;
    static final long SLOW_RUN_MS = 3_000;

    private Bench() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 4 && args[0].equals("one")) {
            one(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            return;
        }
        List<String> assignors = new ArrayList<>();
        String heap = "-Xmx6g";
        long limit = DEFAULT_COMBO_LIMIT_S;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--heap") && i + 1 < args.length) {
                heap = "-Xmx" + args[++i];
            } else if (args[i].equals("--limit") && i + 1 < args.length) {
                limit = Long.parseLong(args[++i]);
            } else if (Arrays.asList(Assignors.NAMES).contains(args[i])) {
                assignors.add(args[i]);
            } else {
                System.err.println("usage: Bench [--heap 6g] [--limit SECONDS] [" + String.join("|", Assignors.NAMES)
                        + "]...   or   Bench one ASSIGNOR PARTITIONS TASKS");
                System.exit(2);
            }
        }
        if (assignors.isEmpty()) {
            assignors.addAll(Arrays.asList(Assignors.NAMES));
        }
        System.exit(all(assignors, heap, limit));
    }

    /* Child mode: warm the JIT once on a small group, then time the real one. */
    static void one(String name, int partitions, int tasks) {
        Assignors.Prepared warm = Assignors.prepare(name, 10_000, 100);
        for (int i = 0; i < 5; i++) {
            warm.run();
        }
        Assignors.Prepared prepared = Assignors.prepare(name, partitions, tasks);
        List<Double> ms = new ArrayList<>();
        int[] counts = null;
        for (int r = 0; r < MAX_RUNS; r++) {
            long t0 = System.nanoTime();
            counts = prepared.run();
            double took = (System.nanoTime() - t0) / 1e6;
            ms.add(took);
            if (took > SLOW_RUN_MS) {
                break;
            }
        }
        ms.sort(null);
        int min = Integer.MAX_VALUE;
        int max = 0;
        long sum = 0;
        for (int c : counts) {
            min = Math.min(min, c);
            max = Math.max(max, c);
            sum += c;
        }
        if (sum != (long) partitions / Assignors.TOPICS * Assignors.TOPICS) {
            throw new IllegalStateException(name + " assigned " + sum + " of " + partitions);
        }
        System.out.printf("assignor=%s partitions=%d tasks=%d ms=%.1f max_per_task=%d min_per_task=%d"
                        + " topics=%d runs=%d%n",
                name, partitions, tasks, ms.get(ms.size() / 2), max, min, Assignors.TOPICS, ms.size());
    }

    static int all(List<String> assignors, String heap, long comboLimit) throws Exception {
        long start = System.nanoTime();
        String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        String cp = System.getProperty("java.class.path");
        int failures = 0;
        System.out.println("# Kafka " + org.apache.kafka.common.utils.AppInfoParser.getVersion()
                + " assignors; P partitions over " + Assignors.TOPICS
                + " topics, every task subscribed to all, fresh group (nothing owned)");
        for (String name : assignors) {
            List<int[]> timedOut = new ArrayList<>();
            for (int p : PARTITIONS) {
                for (int t : TASKS) {
                    String key = "assignor=" + name + " partitions=" + p + " tasks=" + t;
                    boolean larger = false;
                    for (int[] to : timedOut) {
                        larger |= p >= to[0] && t >= to[1];
                    }
                    if (larger) {
                        System.out.println(key + " skipped=larger_than_a_combo_over_" + comboLimit + "s");
                        continue;
                    }
                    long left = TOTAL_BUDGET_S - (System.nanoTime() - start) / 1_000_000_000L;
                    if (left < 5) {
                        System.out.println(key + " skipped=total_budget_" + TOTAL_BUDGET_S + "s_spent");
                        continue;
                    }
                    long limit = Math.min(comboLimit, left);
                    ProcessBuilder pb = new ProcessBuilder(java, heap, "-cp", cp, Bench.class.getName(),
                            "one", name, Integer.toString(p), Integer.toString(t));
                    pb.redirectErrorStream(true);
                    Process proc = pb.start();
                    List<String> out = new ArrayList<>();
                    Thread reader = new Thread(() -> {
                        try (BufferedReader r = new BufferedReader(
                                new InputStreamReader(proc.getInputStream(), StandardCharsets.UTF_8))) {
                            String line;
                            while ((line = r.readLine()) != null) {
                                synchronized (out) {
                                    out.add(line);
                                }
                            }
                        } catch (java.io.IOException e) {
                            /* the child was killed: what it printed so far is kept */
                        }
                    });
                    reader.start();
                    if (!proc.waitFor(limit, TimeUnit.SECONDS)) {
                        proc.destroyForcibly().waitFor();
                        reader.join();
                        timedOut.add(new int[] {p, t});
                        System.out.println(key + " skipped=over_" + limit + "s");
                        continue;
                    }
                    reader.join();
                    String result = null;
                    synchronized (out) {
                        for (String line : out) {
                            if (line.startsWith("assignor=")) {
                                result = line;
                            }
                        }
                    }
                    if (proc.exitValue() != 0 || result == null) {
                        failures++;
                        System.out.println(key + " failed=exit_" + proc.exitValue());
                        synchronized (out) {
                            for (String line : out.subList(Math.max(0, out.size() - 10), out.size())) {
                                System.out.println("#   " + line);
                            }
                        }
                        continue;
                    }
                    System.out.println(result);
                }
            }
        }
        System.out.printf("# total %.1f s%n", (System.nanoTime() - start) / 1e9);
        return failures == 0 ? 0 : 1;
    }
}
