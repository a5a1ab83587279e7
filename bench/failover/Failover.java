// Failover.java — what a plain Kafka consumer group does when one of its machines dies: the
// baseline of issue 15's failover benchmark (kplane's side: three instances, kill -9 of one).
// Driven by bench/failover/run.sh (see its header).
//
// The observer (this class's main) creates a fresh topic, produces one record to every
// partition at a fixed rate, and starts M member JVMs ("member" mode, each running K
// KafkaConsumers of one group in their own threads). Members print every first arrival
// ("A partition offset nanoTime") and every assignment ("O consumer p,p,...") on stdout; the
// observer reads them live. System.nanoTime is CLOCK_MONOTONIC on Linux, one clock for every
// process of the machine. Once every partition is owned and flowing, the observer kills member
// 0 with SIGKILL (Process.destroyForcibly) — no LeaveGroup, no commit, as a dead machine — and
// measures, per partition, the longest gap between consecutive arrivals from the kill on:
//   moved partitions (owned by the killed member): kill → first arrival from a survivor;
//   unmoved partitions: their longest gap around the change, against the produce interval.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class Failover {
    static String bootstrap, protocol = "cooperative", topic, group;
    static int partitions = 30, members = 3, consumers = 4, rate = 50, sessionMs = 10000;
    static double steadyS = 5, holdS = 5, limitS = 120;

    static final long T0 = System.nanoTime();

    static void log(String s) {
        System.out.printf(Locale.ROOT, "# %8.1f ms %s%n", (System.nanoTime() - T0) / 1e6, s);
    }

    static void parse(String[] a, int from) {
        for (int i = from; i + 1 < a.length; i += 2) {
            String k = a[i], v = a[i + 1];
            switch (k) {
                case "--bootstrap": bootstrap = v; break;
                case "--protocol": protocol = v; break;
                case "--topic": topic = v; break;
                case "--group": group = v; break;
                case "--partitions": partitions = Integer.parseInt(v); break;
                case "--members": members = Integer.parseInt(v); break;
                case "--consumers": consumers = Integer.parseInt(v); break;
                case "--rate": rate = Integer.parseInt(v); break;
                case "--session-ms": sessionMs = Integer.parseInt(v); break;
                case "--steady": steadyS = Double.parseDouble(v); break;
                case "--hold": holdS = Double.parseDouble(v); break;
                default: throw new IllegalArgumentException("unknown option " + k);
            }
        }
        if (bootstrap == null) throw new IllegalArgumentException("--bootstrap is required");
    }

    // ------------------------------------------------------------------ member mode
    /* One consumer of the group: prints its assignment on every change and each record's
     * arrival; commits automatically (Kafka's default, every 5 s) as a plain group does. */
    static void consume(int id) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("group.id", group);
        p.put("auto.offset.reset", "earliest");
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        if (protocol.equals("consumer")) {
            p.put("group.protocol", "consumer");
        } else {
            p.put("group.protocol", "classic");
            p.put("session.timeout.ms", Integer.toString(sessionMs));
            p.put("partition.assignment.strategy", protocol.equals("range")
                    ? "org.apache.kafka.clients.consumer.RangeAssignor"
                    : "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
        }
        Set<Integer> owned = new HashSet<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                void say() {
                    StringBuilder b = new StringBuilder("O " + id + " ");
                    for (int q : owned) b.append(q).append(',');
                    synchronized (System.out) { System.out.println(b); System.out.flush(); }
                }
                public void onPartitionsRevoked(Collection<TopicPartition> ps) {
                    for (TopicPartition tp : ps) owned.remove(tp.partition());
                    say();
                }
                public void onPartitionsAssigned(Collection<TopicPartition> ps) {
                    for (TopicPartition tp : ps) owned.add(tp.partition());
                    say();
                }
                public void onPartitionsLost(Collection<TopicPartition> ps) { onPartitionsRevoked(ps); }
            });
            StringBuilder b = new StringBuilder();
            while (true) {
                b.setLength(0);
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100)))
                    b.append("A ").append(r.partition()).append(' ').append(r.offset()).append(' ')
                            .append(System.nanoTime()).append('\n');
                if (b.length() > 0)
                    synchronized (System.out) { System.out.print(b); System.out.flush(); }
            }
        }
    }

    static void member(String[] a) throws Exception {
        parse(a, 1);
        List<Thread> ts = new ArrayList<>();
        for (int i = 0; i < consumers; i++) {
            final int id = i;
            Thread t = new Thread(() -> consume(id), "consumer-" + i);
            t.start();
            ts.add(t);
        }
        for (Thread t : ts) t.join();
    }

    // ------------------------------------------------------------------ observer
    static final class Part {
        final List<long[]> arr = new ArrayList<>(); // {nanoTime, offset, member}
        final Set<Long> seen = new HashSet<>();
        int dups;
        synchronized void add(long off, long t, int m) {
            if (!seen.add(off)) { dups++; return; }
            arr.add(new long[] {t, off, m});
        }
        synchronized long firstAfter(long t) {
            for (long[] x : arr) if (x[0] > t) return x[0];
            return 0;
        }
        /* The longest gap between consecutive first arrivals among those after @p from,
         * counting from @p from itself. */
        synchronized long longestGapFrom(long from, long until) {
            long prev = from, best = 0;
            for (long[] x : arr) {
                if (x[0] <= from || x[0] > until) continue;
                best = Math.max(best, x[0] - prev);
                prev = x[0];
            }
            return Math.max(best, until - prev);
        }
    }

    static Part[] parts;
    static final ConcurrentHashMap<String, Set<Integer>> owners = new ConcurrentHashMap<>();
    static volatile long lastChange;

    static Process spawn(int m) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(
                ProcessHandle.current().info().command().orElse("java"), "-Xmx128m",
                "-XX:+UseSerialGC", "-XX:-UsePerfData", "-cp", System.getProperty("java.class.path")));
        String log4j = System.getProperty("log4j2.configurationFile");
        if (log4j != null) cmd.add(1, "-Dlog4j2.configurationFile=" + log4j);
        cmd.addAll(List.of("Failover", "member", "--bootstrap", bootstrap, "--protocol", protocol,
                "--topic", topic, "--group", group, "--consumers", Integer.toString(consumers),
                "--session-ms", Integer.toString(sessionMs)));
        Process pr = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        Thread rd = new Thread(() -> read(m, pr), "reader-" + m);
        rd.setDaemon(true);
        rd.start();
        return pr;
    }

    static void read(int m, Process pr) {
        try (BufferedReader r = new BufferedReader(
                new InputStreamReader(pr.getInputStream(), StandardCharsets.UTF_8))) {
            for (String l; (l = r.readLine()) != null; ) {
                String[] f = l.split(" ");
                if (f[0].equals("A")) {
                    parts[Integer.parseInt(f[1])].add(Long.parseLong(f[2]), Long.parseLong(f[3]), m);
                } else if (f[0].equals("O")) {
                    Set<Integer> s = ConcurrentHashMap.newKeySet();
                    if (f.length > 2)
                        for (String q : f[2].split(",")) if (!q.isEmpty()) s.add(Integer.parseInt(q));
                    owners.put(m + "/" + f[1], s);
                    lastChange = System.nanoTime();
                }
            }
        } catch (Exception e) {
            // the member was killed: its pipe closed
        }
    }

    /* Every partition owned by exactly one consumer. */
    static boolean settled() {
        int[] n = new int[partitions];
        for (Set<Integer> s : owners.values()) for (int q : s) n[q]++;
        for (int x : n) if (x != 1) return false;
        return true;
    }

    static Set<Integer> ownedBy(int m) {
        Set<Integer> s = new HashSet<>();
        owners.forEach((k, v) -> { if (k.startsWith(m + "/")) s.addAll(v); });
        return s;
    }

    static void produce(KafkaProducer<byte[], byte[]> pr, AtomicBoolean stop) {
        long interval = 1_000_000_000L / rate, next = System.nanoTime();
        while (!stop.get()) {
            for (int q = 0; q < partitions; q++)
                pr.send(new ProducerRecord<>(topic, q, null, ByteBuffer.allocate(8).putLong(next).array()));
            next += interval;
            long wait = next - System.nanoTime();
            if (wait > 0) {
                try { TimeUnit.NANOSECONDS.sleep(wait); } catch (InterruptedException e) { return; }
            }
        }
    }

    static double pct(List<Double> xs, double q) {
        if (xs.isEmpty()) return 0;
        List<Double> s = new ArrayList<>(xs);
        s.sort(null);
        int i = Math.max(0, (int) Math.ceil(q * s.size()) - 1);
        return s.get(Math.min(s.size() - 1, i));
    }

    static void observe(String[] a) throws Exception {
        parse(a, 0);
        String run = UUID.randomUUID().toString().substring(0, 8);
        topic = topic != null ? topic : "failover-" + run;
        group = group != null ? group : "failover-" + protocol + "-" + run;
        parts = new Part[partitions];
        for (int q = 0; q < partitions; q++) parts[q] = new Part();
        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
        Properties pp = new Properties();
        pp.put("bootstrap.servers", bootstrap);
        pp.put("linger.ms", "0");
        pp.put("acks", "1");
        pp.put("key.serializer", ByteArraySerializer.class.getName());
        pp.put("value.serializer", ByteArraySerializer.class.getName());
        AtomicBoolean stop = new AtomicBoolean();
        List<Process> procs = new ArrayList<>();
        int rc = 1;
        try (KafkaProducer<byte[], byte[]> pr = new KafkaProducer<>(pp)) {
            Thread prod = new Thread(() -> produce(pr, stop), "producer");
            prod.start();
            for (int m = 0; m < members; m++) procs.add(spawn(m));
            log(members + " members × " + consumers + " consumers, protocol " + protocol
                    + ", session " + (protocol.equals("consumer") ? "the broker's" : sessionMs + " ms"));
            long deadline = System.nanoTime() + (long) (limitS * 1e9);
            // settled: every partition owned once and no assignment change for steadyS
            while (!settled() || System.nanoTime() - lastChange < steadyS * 1e9) {
                if (System.nanoTime() > deadline) throw new IllegalStateException("the group never settled");
                Thread.sleep(50);
            }
            log("settled and steady for " + steadyS + " s");
            Set<Integer> moved = ownedBy(0);
            long kill = System.nanoTime();
            procs.get(0).destroyForcibly();
            log("killed member 0 (owned " + moved.size() + " partitions)");
            long done = 0;
            while (true) {
                boolean all = true;
                for (int q : moved) if (parts[q].firstAfter(kill) == 0) all = false;
                if (all && done == 0) done = System.nanoTime();
                if (done != 0 && System.nanoTime() - done > holdS * 1e9) break;
                if (System.nanoTime() > kill + (long) (limitS * 1e9))
                    throw new IllegalStateException("moved partitions never consumed again");
                Thread.sleep(20);
            }
            long until = System.nanoTime();
            double failover = 0;
            List<Double> unmoved = new ArrayList<>(), steady = new ArrayList<>();
            double interval = 1000.0 / rate;
            // the same partitions' longest gap in a steady window of the same length before
            long window = Math.min(until - kill, (long) (steadyS * 1e9));
            for (int q = 0; q < partitions; q++) {
                if (moved.contains(q)) {
                    failover = Math.max(failover, (parts[q].firstAfter(kill) - kill) / 1e6);
                } else {
                    unmoved.add(parts[q].longestGapFrom(kill, until) / 1e6);
                    steady.add(parts[q].longestGapFrom(kill - window, kill) / 1e6);
                }
            }
            // stopped: a gap beyond anything the steady window showed (and 3 intervals)
            double threshold = Math.max(3 * interval, pct(steady, 1.0));
            int stopped = 0;
            for (double g : unmoved) if (g > threshold) stopped++;
            int dups = 0;
            for (Part p : parts) dups += p.dups;
            System.out.printf(Locale.ROOT,
                    "protocol=%s members=%d consumers=%d partitions=%d moved=%d failover_ms=%.0f "
                            + "unmoved_gap_p50_ms=%.1f unmoved_gap_max_ms=%.1f unmoved_stopped=%d "
                            + "steady_gap_p50_ms=%.1f steady_gap_max_ms=%.1f threshold_ms=%.1f "
                            + "interval_ms=%.1f duplicates=%d%n",
                    protocol, members, consumers, partitions, moved.size(), failover,
                    pct(unmoved, 0.5), pct(unmoved, 1.0), stopped, pct(steady, 0.5),
                    pct(steady, 1.0), threshold, interval, dups);
            rc = 0;
            stop.set(true);
            prod.join();
        } finally {
            stop.set(true);
            for (Process p : procs) p.destroyForcibly();
        }
        System.exit(rc);
    }

    public static void main(String[] a) throws Exception {
        if (a.length > 0 && a[0].equals("member")) member(a);
        else observe(a);
    }
}
