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
    /* --quick: a smoke run (CI), the same small topologies as bench_vs_assignors --quick */
    static final int[] QUICK_PARTITIONS = {1_000, 10_000};
    static final int[] QUICK_TASKS = {10, 100};
    static final long DEFAULT_COMBO_LIMIT_S = 60;
    static final long DEFAULT_BUDGET_S = 170;
    /* Timed runs: up to this many, fewer when one run is slow. A run of over a second
     * (CooperativeSticky at 1M partitions, 1.0-4.2 s) is timed once: kplane is hundreds of
     * times faster there, and four more runs cost the section about a minute. */
    static final int MAX_RUNS = 5;
    static final long SLOW_RUN_MS = 1_000;

    private Bench() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 4 && args[0].equals("one")) {
            one(args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            return;
        }
        if (args.length == 5 && args[0].equals("replan")) {
            replan(args[1], args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]));
            return;
        }
        List<String> assignors = new ArrayList<>();
        String heap = "-Xmx6g";
        long limit = DEFAULT_COMBO_LIMIT_S;
        long budget = DEFAULT_BUDGET_S;
        boolean replan = false;
        boolean quick = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--heap") && i + 1 < args.length) {
                heap = "-Xmx" + args[++i];
            } else if (args[i].equals("--limit") && i + 1 < args.length) {
                limit = Long.parseLong(args[++i]);
            } else if (args[i].equals("--budget") && i + 1 < args.length) {
                budget = Long.parseLong(args[++i]);
            } else if (args[i].equals("--replan")) {
                replan = true;
            } else if (args[i].equals("--quick")) {
                quick = true;
            } else if (Arrays.asList(Assignors.NAMES).contains(args[i])) {
                assignors.add(args[i]);
            } else {
                System.err.println("usage: Bench [--heap 6g] [--limit SECONDS] [--budget SECONDS] [--replan] [--quick] ["
                        + String.join("|", Assignors.NAMES) + "]...\n"
                        + "   or  Bench one ASSIGNOR PARTITIONS TASKS\n"
                        + "   or  Bench replan ASSIGNOR " + String.join("|", Replan.CASES) + " PARTITIONS TASKS");
                System.exit(2);
            }
        }
        if (assignors.isEmpty()) {
            assignors.addAll(Arrays.asList(Assignors.NAMES));
        }
        System.exit(all(assignors, heap, limit, budget, replan, quick));
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

    /* Child mode: one re-plan of a group that owns every partition (Replan.java), warmed
     * up on a small group of the same change first. Moves and balance are counted from
     * the owners the same way bench_vs_assignors.c counts kplane's. */
    static void replan(String name, String change, int partitions, int tasks) {
        Replan.Prepared warm = Replan.prepare(name, change, 10_000, 100);
        for (int i = 0; i < 5; i++) {
            warm.run();
        }
        Replan.Layout l = new Replan.Layout(change, partitions, tasks);
        Replan.Prepared prepared = Replan.prepare(name, change, partitions, tasks);
        List<Double> ms = new ArrayList<>();
        List<Double> follow = new ArrayList<>();
        Replan.Result res = null;
        for (int r = 0; r < MAX_RUNS; r++) {
            res = prepared.run();
            ms.add(res.nanos / 1e6);
            follow.add(res.followupNanos / 1e6);
            if ((res.nanos + res.followupNanos) / 1e6 > SLOW_RUN_MS) {
                break;
            }
        }
        ms.sort(null);
        follow.sort(null);
        int[] counts = new int[l.tasks2];
        long moved = 0;
        for (int t = 0; t < Assignors.TOPICS; t++) {
            for (int p = 0; p < l.per2; p++) {
                int now = res.owner[l.flat(t, p)];
                if (now < 0) {
                    throw new IllegalStateException(name + " left topic-" + t + "/" + p + " unassigned");
                }
                counts[now]++;
                int was = l.oldOwner(t, p);
                if (was >= 0 && was != now) {
                    moved++;
                }
            }
        }
        int min = Integer.MAX_VALUE;
        int max = 0;
        for (int c : counts) {
            min = Math.min(min, c);
            max = Math.max(max, c);
        }
        System.out.printf("assignor=%s case=%s partitions=%d tasks=%d to_partitions=%d to_tasks=%d ms=%.2f"
                        + " ms_followup=%.2f moved=%d max_per_task=%d min_per_task=%d topics=%d runs=%d%n",
                name, change, partitions, tasks, l.partitions2(), l.tasks2, ms.get(ms.size() / 2),
                follow.get(follow.size() / 2), moved, max, min, Assignors.TOPICS, ms.size());
    }

    /*
     * Parent mode: one child JVM per combination, each cut off after comboLimit seconds
     * (then every larger combination of the same assignor and change is skipped too, as
     * it would only take longer), and nothing started once budget seconds are spent.
     */
    static int all(List<String> assignors, String heap, long comboLimit, long budget, boolean replan, boolean quick)
            throws Exception {
        long start = System.nanoTime();
        String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        String cp = System.getProperty("java.class.path");
        int[] partitionsList = quick ? QUICK_PARTITIONS : PARTITIONS;
        int[] tasksList = quick ? QUICK_TASKS : TASKS;
        String[] changes = replan ? Replan.CASES : new String[] {null};
        int failures = 0;
        System.out.println("# Kafka " + org.apache.kafka.common.utils.AppInfoParser.getVersion()
                + " assignors; P partitions over " + Assignors.TOPICS + " topics, every task subscribed to all, "
                + (replan ? "a group owning every partition (member i % T owns flat partition i) re-plans"
                        : "fresh group (nothing owned)")
                + "; at most " + comboLimit + " s per combination, " + budget + " s in all");
        for (String name : assignors) {
            for (String change : changes) {
                List<int[]> timedOut = new ArrayList<>();
                for (int p : partitionsList) {
                    for (int t : tasksList) {
                        String key = "assignor=" + name + (change == null ? "" : " case=" + change)
                                + " partitions=" + p + " tasks=" + t;
                        boolean larger = false;
                        for (int[] to : timedOut) {
                            larger |= p >= to[0] && t >= to[1];
                        }
                        if (larger) {
                            System.out.println(key + " skipped=larger_than_a_combo_over_" + comboLimit + "s");
                            continue;
                        }
                        long left = budget - (System.nanoTime() - start) / 1_000_000_000L;
                        if (left < 5) {
                            System.out.println(key + " skipped=total_budget_" + budget + "s_spent");
                            continue;
                        }
                        long limit = Math.min(comboLimit, left);
                        List<String> cmd = new ArrayList<>(Arrays.asList(java, heap, "-cp", cp, Bench.class.getName()));
                        if (change == null) {
                            cmd.addAll(Arrays.asList("one", name, Integer.toString(p), Integer.toString(t)));
                        } else {
                            cmd.addAll(Arrays.asList("replan", name, change, Integer.toString(p), Integer.toString(t)));
                        }
                        String result = runChild(cmd, limit, key);
                        if (result == null) {
                            timedOut.add(new int[] {p, t});
                            System.out.println(key + " skipped=over_" + limit + "s");
                        } else if (result.startsWith("assignor=")) {
                            System.out.println(result);
                        } else {
                            failures++;
                            System.out.println(result);
                        }
                    }
                }
            }
        }
        System.out.printf("# total %.1f s%n", (System.nanoTime() - start) / 1e9);
        return failures == 0 ? 0 : 1;
    }

    /* Runs one child. @returns its result line, null when it ran past limitS seconds, or
     * "KEY failed=..." followed by its last lines as '#' notes. */
    static String runChild(List<String> cmd, long limitS, String key) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd);
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
        if (!proc.waitFor(limitS, TimeUnit.SECONDS)) {
            proc.destroyForcibly().waitFor();
            reader.join();
            return null;
        }
        reader.join();
        String result = null;
        synchronized (out) {
            for (String line : out) {
                if (line.startsWith("assignor=")) {
                    result = line;
                }
            }
            if (proc.exitValue() == 0 && result != null) {
                return result;
            }
            StringBuilder b = new StringBuilder(key + " failed=exit_" + proc.exitValue());
            for (String line : out.subList(Math.max(0, out.size() - 10), out.size())) {
                b.append("\n#   ").append(line);
            }
            return b.toString();
        }
    }
}
