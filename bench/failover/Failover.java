// Failover.java — what a consumer group does when one of its machines dies: kplane's several
// instances (issue 15: three `kplane serve` sharing one service, kill -9 of one) beside a plain
// Kafka consumer group of the same size losing one member. Driven by bench/failover/run.sh (see
// its header).
//
// The observer (this class's main) creates a fresh topic and produces one record to every
// partition at a fixed rate. System.nanoTime is CLOCK_MONOTONIC on Linux, one clock for every
// process of the machine, and every arrival is stamped on it:
//   Kafka (--protocol cooperative|range|consumer): M member JVMs ("member" mode), each running
//     K KafkaConsumers of one group in their own threads, print every first arrival
//     ("A partition offset nanoTime", stamped when poll returns it) and every assignment
//     ("O consumer p,p,...") on stdout; the observer reads them live. The victim is member 0.
//   kplane (--protocol kplane): three kplane instances, already started by the caller
//     (--kplane URL,URL,URL --pids PID,PID,PID), run a group of M × K tasks whose http sink
//     posts to the observer's own HTTP receiver, which stamps every record on the request's
//     arrival. The victim is an instance that runs tasks and does not lead (--kill follower),
//     or the leader (--kill leader; --kill follower,leader kills one, then another of the two
//     left, each a round of its own on the same group).
// Once every partition is owned once and flowing, and nothing changed for --steady seconds,
// the observer kills the victim with SIGKILL (Process/ProcessHandle.destroyForcibly) — no
// LeaveGroup, no commit, as a dead machine — and measures per partition from the kill on:
//   moved partitions (the victim's): kill → the end of the partition's longest gap after the
//     kill, i.e. the first arrival from a survivor (kplane's receiver may still get a request
//     the victim sent just before it died a few ms after the kill: that is not a survivor);
//   unmoved partitions: their longest gap between consecutive arrivals from the kill until
//     --hold seconds after the last moved partition consumed again, against the longest gap
//     the same partitions showed in a steady window of the same length just before the kill,
//     both less the part of a gap where the producer itself was late (each record carries its
//     send time; a harness not scheduled on a loaded machine is no reader's pause);
//   duplicates: offsets that arrived again (the victim's uncommitted work, read again);
//   missing: offsets below a partition's highest arrival that never arrived (messages lost).
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
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
    static String bootstrap, protocol = "cooperative", topic, group, kill = "follower";
    static String[] kplaneUrls = {};
    static long[] kplanePids = {};
    static int partitions = 30, members = 3, consumers = 4, rate = 50, sessionMs = 10000;
    static double steadyS = 5, holdS = 5, limitS = 120, settleS = 120;

    static final long T0 = System.nanoTime();

    static void log(String s) {
        System.out.printf(Locale.ROOT, "# %8.1f ms %s%n", (System.nanoTime() - T0) / 1e6, s);
    }

    /* What went wrong, on one line the bench reads ("FAILED: ..."), then exit 1. */
    static final class Failed extends Exception {
        Failed(String why) { super(why); }
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
                case "--limit": limitS = Double.parseDouble(v); break;
                case "--settle": settleS = Double.parseDouble(v); break;
                case "--kplane": kplaneUrls = v.split(","); break;
                case "--pids": {
                    String[] f = v.split(",");
                    kplanePids = new long[f.length];
                    for (int j = 0; j < f.length; j++) kplanePids[j] = Long.parseLong(f[j]);
                    break;
                }
                case "--kill": kill = v; break;
                default: throw new IllegalArgumentException("unknown option " + k);
            }
        }
        if (bootstrap == null) throw new IllegalArgumentException("--bootstrap is required");
        if (protocol.equals("kplane") && (kplaneUrls.length < 2 || kplaneUrls.length != kplanePids.length))
            throw new IllegalArgumentException("kplane: --kplane URL,URL,... and as many --pids");
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
                            .append(System.nanoTime()).append(' ').append(ByteBuffer.wrap(r.value()).getLong())
                            .append('\n');
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

    // ------------------------------------------------------------------ arrivals
    static final class Part {
        final List<long[]> arr = new ArrayList<>(); // {nanoTime, offset, member, sent}, in arrival order
        final Set<Long> seen = new HashSet<>();
        int dups;
        synchronized void add(long off, long t, int m, long sent) {
            if (!seen.add(off)) { dups++; return; }
            arr.add(new long[] {t, off, m, sent});
        }
        synchronized int dups() { return dups; }
        /* Offsets below the highest that arrived which never did: every reader here reads a
         * partition in order from the beginning, so a hole is a message lost. */
        synchronized long missing() {
            long max = -1;
            for (long[] x : arr) max = Math.max(max, x[1]);
            return max + 1 - seen.size();
        }
        synchronized long last() { return arr.isEmpty() ? 0 : arr.get(arr.size() - 1)[0]; }
        /* The end of the longest gap between consecutive first arrivals after @p from
         * (counting from @p from itself): when the partition consumed again after the kill.
         * 0 when nothing arrived after @p from, or only what came before its longest gap
         * could be (a gap shorter than @p minGap ends no outage). */
        synchronized long recovered(long from, long minGap) {
            long prev = from, best = 0, end = 0;
            for (long[] x : arr) {
                if (x[0] <= from) continue;
                if (x[0] - prev > best) { best = x[0] - prev; end = x[0]; }
                prev = x[0];
            }
            return best >= minGap ? end : 0;
        }
        /* The longest gap between consecutive first arrivals among those after @p from,
         * counting from @p from itself. With @p net, less the part of it where the producer
         * itself was late (the send gap beyond the produce interval): a harness not scheduled
         * on a loaded machine is no reader's pause. */
        synchronized long longestGapFrom(long from, long until, boolean net) {
            return longestGapSpan(from, until, net)[2];
        }
        /* That gap's {start, end, length}. */
        synchronized long[] longestGapSpan(long from, long until, boolean net) {
            long prev = from, prevSent = 0, best = -1, s = from, e = from;
            for (long[] x : arr) {
                if (x[0] <= from || x[0] > until) continue;
                long late = net && prevSent != 0 ? Math.max(0, x[3] - prevSent - intervalNs()) : 0;
                long g = Math.max(0, x[0] - prev - late);
                if (g > best) { best = g; s = prev; e = x[0]; }
                prev = x[0];
                prevSent = x[3];
            }
            if (until - prev > best) { best = until - prev; s = prev; e = until; }
            return new long[] {s, e, best};
        }
        /* The longest time between the sends of consecutive first arrivals in (from, until]. */
        synchronized long sendGapMax(long from, long until) {
            long prevSent = 0, best = 0;
            for (long[] x : arr) {
                if (x[0] <= from || x[0] > until) continue;
                if (prevSent != 0) best = Math.max(best, x[3] - prevSent);
                prevSent = x[3];
            }
            return best;
        }
    }

    static Part[] parts;

    static long intervalNs() { return 1_000_000_000L / rate; }

    static void produce(KafkaProducer<byte[], byte[]> pr, AtomicBoolean stop) {
        long interval = 1_000_000_000L / rate, next = System.nanoTime();
        while (!stop.get()) {
            // the send time, not the scheduled one: the readers' side tells a late producer
            byte[] sent = ByteBuffer.allocate(8).putLong(System.nanoTime()).array();
            for (int q = 0; q < partitions; q++)
                pr.send(new ProducerRecord<>(topic, q, null, sent));
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

    static boolean allFlowingSince(long t) {
        for (Part p : parts) if (p.last() <= t) return false;
        return true;
    }

    /* From the kill on: waits until every moved partition consumed again (an outage of at
     * least 3 produce intervals ended), then --hold seconds more, and prints the round's line. */
    static void measure(String name, int live, int perMember, long killAt, Set<Integer> moved, int dupsBefore,
                        String extra) throws Exception {
        if (moved.isEmpty()) throw new Failed(name + ": the victim owned no partition at the kill");
        // An outage is a gap longer than any the steady window before the kill showed (and
        // than 3 produce intervals): a request the victim sent just before it died, landing
        // a little late, does not end one.
        long minGap = 3 * 1_000_000_000L / rate;
        for (Part p : parts) minGap = Math.max(minGap, p.longestGapFrom(killAt - (long) (steadyS * 1e9), killAt, false)
                + 1_000_000_000L / rate);
        long done = 0;
        while (true) {
            int back = 0;
            for (int q : moved) if (parts[q].recovered(killAt, minGap) != 0) back++;
            if (back == moved.size() && done == 0) {
                done = System.nanoTime();
                log(String.format(Locale.ROOT, "every moved partition consumes again (%.0f ms after the kill); holding %.1f s",
                        (done - killAt) / 1e6, holdS));
            }
            if (done != 0 && System.nanoTime() - done > holdS * 1e9) break;
            if (done == 0 && System.nanoTime() > killAt + (long) (limitS * 1e9))
                throw new Failed(String.format(Locale.ROOT, "%s: did not recover within %.0f s of the kill: %d of %d moved "
                        + "partitions consume again", name, limitS, back, moved.size()));
            Thread.sleep(20);
        }
        long until = System.nanoTime();
        double failover = 0, sendGap = 0;
        List<Double> unmoved = new ArrayList<>(), steady = new ArrayList<>();
        double interval = 1000.0 / rate;
        // the same partitions' longest gap in a steady window of the same length before
        long window = Math.min(until - killAt, (long) (steadyS * 1e9));
        for (int q = 0; q < partitions; q++) {
            if (moved.contains(q)) {
                failover = Math.max(failover, (parts[q].recovered(killAt, minGap) - killAt) / 1e6);
            } else {
                unmoved.add(parts[q].longestGapFrom(killAt, until, true) / 1e6);
                steady.add(parts[q].longestGapFrom(killAt - window, killAt, true) / 1e6);
                sendGap = Math.max(sendGap, parts[q].sendGapMax(killAt, until) / 1e6);
            }
        }
        // stopped: a gap longer than the longest the steady window showed by more than one
        // produce interval (a message's worth), and than 3 intervals
        double threshold = Math.max(3 * interval, pct(steady, 1.0) + interval);
        int stopped = 0;
        long firstStart = Long.MAX_VALUE, lastEnd = 0;
        for (int q = 0; q < partitions; q++) {
            if (moved.contains(q)) continue;
            long[] g = parts[q].longestGapSpan(killAt, until, true);
            if (g[2] / 1e6 <= threshold) continue;
            stopped++;
            firstStart = Math.min(firstStart, g[0]);
            lastEnd = Math.max(lastEnd, g[1]);
        }
        if (stopped > 0) { // when: at the kill, at the failover, or anywhere (the machine)
            // after the failover: were the moved partitions silent over the same span too (a stall
            // of every reader, or of the receiver)?
            String also = "";
            if (firstStart > killAt + failover * 1e6) {
                int silent = 0;
                for (int q : moved) if (parts[q].longestGapFrom(firstStart, lastEnd, false) >= (lastEnd - firstStart) * 0.8) silent++;
                also = "; " + silent + " of the " + moved.size() + " moved were silent over that span too";
            }
            log(String.format(Locale.ROOT, "%d unmoved partitions stopped: their longest gaps lie between %.0f and %.0f ms "
                    + "after the kill (the moved ones consumed again at %.0f ms%s)", stopped, (firstStart - killAt) / 1e6,
                    (lastEnd - killAt) / 1e6, failover, also));
        }
        int dups = -dupsBefore;
        long missing = 0;
        for (Part p : parts) { dups += p.dups(); missing += p.missing(); }
        System.out.printf(Locale.ROOT,
                "protocol=%s members=%d consumers=%d partitions=%d moved=%d failover_ms=%.0f "
                        + "unmoved_gap_p50_ms=%.1f unmoved_gap_max_ms=%.1f unmoved_stopped=%d "
                        + "steady_gap_p50_ms=%.1f steady_gap_max_ms=%.1f threshold_ms=%.1f "
                        + "interval_ms=%.1f duplicates=%d missing=%d send_gap_max_ms=%.1f%s%n",
                name, live, perMember, partitions, moved.size(), failover,
                pct(unmoved, 0.5), pct(unmoved, 1.0), stopped, pct(steady, 0.5),
                pct(steady, 1.0), threshold, interval, dups, missing, sendGap, extra);
        System.out.flush();
    }

    static void createTopic() throws Exception {
        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
    }

    static KafkaProducer<byte[], byte[]> producer() {
        Properties pp = new Properties();
        pp.put("bootstrap.servers", bootstrap);
        pp.put("linger.ms", "0");
        pp.put("acks", "1");
        pp.put("key.serializer", ByteArraySerializer.class.getName());
        pp.put("value.serializer", ByteArraySerializer.class.getName());
        return new KafkaProducer<>(pp);
    }

    // ------------------------------------------------------------------ Kafka: member JVMs
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
                    parts[Integer.parseInt(f[1])].add(Long.parseLong(f[2]), Long.parseLong(f[3]), m,
                            Long.parseLong(f[4]));
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

    /* Every consumer of every member joined and owns some partition (a member JVM slow to
     * start on a loaded machine must not be killed before it joined), every partition owned
     * by exactly one consumer. */
    static boolean settled() {
        int[] n = new int[partitions];
        int busy = 0;
        for (Set<Integer> s : owners.values()) if (!s.isEmpty()) busy++;
        if (busy < Math.min(members * consumers, partitions)) return false;
        for (Set<Integer> s : owners.values()) for (int q : s) n[q]++;
        for (int x : n) if (x != 1) return false;
        return true;
    }

    static Set<Integer> ownedBy(int m) {
        Set<Integer> s = new HashSet<>();
        owners.forEach((k, v) -> { if (k.startsWith(m + "/")) s.addAll(v); });
        return s;
    }

    static void runKafka() throws Exception {
        List<Process> procs = new ArrayList<>();
        try {
            for (int m = 0; m < members; m++) procs.add(spawn(m));
            log(members + " members × " + consumers + " consumers, protocol " + protocol
                    + ", session " + (protocol.equals("consumer") ? "the broker's" : sessionMs + " ms"));
            long deadline = System.nanoTime() + (long) (settleS * 1e9);
            // settled: every partition owned once, flowing, and no assignment change for steadyS
            while (!settled() || System.nanoTime() - lastChange < steadyS * 1e9 || !allFlowingSince(lastChange)) {
                if (System.nanoTime() > deadline)
                    throw new Failed(protocol + ": the group never settled within " + settleS + " s");
                Thread.sleep(50);
            }
            log("settled and steady for " + steadyS + " s");
            Set<Integer> moved = ownedBy(0);
            long killAt = System.nanoTime();
            procs.get(0).destroyForcibly();
            log("killed member 0 (owned " + moved.size() + " partitions)");
            measure(protocol, members, consumers, killAt, moved, 0, "");
        } finally {
            for (Process p : procs) p.destroyForcibly();
        }
    }

    // ------------------------------------------------------------------ kplane: instances
    static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static final ObjectMapper json = new ObjectMapper();

    static JsonNode api(String base, String method, String path, String body) throws Exception {
        HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(base + "/api/v1" + path))
                .timeout(Duration.ofSeconds(30)).header("Content-Type", "application/json");
        rb.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> r = http.send(rb.build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() / 100 != 2)
            throw new Failed(method + " " + base + path + " -> " + r.statusCode() + ": " + r.body());
        return r.body().isEmpty() ? null : json.readTree(r.body());
    }

    /* The http sink's json_lines: {"cluster":..,"topic":..,"partition":N,"offset":M,...} per line. */
    static void receive(byte[] body, long now) {
        String s = new String(body, StandardCharsets.UTF_8);
        int i = 0;
        while ((i = s.indexOf("\"partition\":", i)) >= 0) {
            i += 12;
            int j = i;
            while (j < s.length() && Character.isDigit(s.charAt(j))) j++;
            int part = Integer.parseInt(s.substring(i, j));
            int k = s.indexOf("\"offset\":", j) + 9, e = k;
            while (e < s.length() && Character.isDigit(s.charAt(e))) e++;
            int v = s.indexOf("\"value\":\"", e) + 9, ve = s.indexOf('"', v);
            long sent = ByteBuffer.wrap(Base64.getDecoder().decode(s.substring(v, ve))).getLong();
            parts[part].add(Long.parseLong(s.substring(k, e)), now, -1, sent);
            i = ve;
        }
    }

    /* One look at the service through instance @via: task -> the index (in --kplane) of the
     * instance that reports running it (-2 when two do), and the leader's index in [tasks]. */
    static final class View {
        final Map<Integer, Integer> owner = new TreeMap<>();
        int leader = -1;
        String raw = "";
    }

    static int indexOf(JsonNode item) {
        String url = item.path("url").asText(""), id = item.path("id").asText("");
        for (int i = 0; i < kplaneUrls.length; i++) {
            String u = kplaneUrls[i].replaceAll("/+$", "");
            String port = u.substring(u.lastIndexOf(':') + 1);
            if (url.replaceAll("/+$", "").equals(u) || id.endsWith(":" + port)) return i;
        }
        return -1;
    }

    static View view(int via) throws Exception {
        JsonNode d = api(kplaneUrls[via], "GET", "/instances", null);
        View v = new View();
        v.raw = d.toString();
        String leader = d.path("leader").asText("");
        for (JsonNode it : d.path("items")) {
            int idx = indexOf(it);
            if (it.path("id").asText("").equals(leader)) v.leader = idx;
            JsonNode ts = it.path("tasks");
            List<Integer> mine = new ArrayList<>();
            if (ts.isArray()) { // [{"group": g, "task": t}, ...]
                for (JsonNode t : ts) if (t.path("group").asText("").equals(group)) mine.add(t.path("task").asInt());
            } else if (ts.isObject()) { // {"g": [t, ...]}
                for (JsonNode t : ts.path(group)) mine.add(t.asInt());
            }
            for (int t : mine) v.owner.merge(t, idx, (a, b) -> -2);
        }
        return v;
    }

    /* Every task on exactly one of the @live instances, each of them running at least one. */
    static boolean spread(View v, int tasks, Set<Integer> live) {
        if (v.owner.size() != tasks) return false;
        Set<Integer> used = new HashSet<>();
        for (int o : v.owner.values()) {
            if (!live.contains(o)) return false;
            used.add(o);
        }
        return used.size() == live.size();
    }

    static Map<Integer, Set<Integer>> taskPartitions(JsonNode plan) {
        Map<Integer, Set<Integer>> m = new HashMap<>();
        for (JsonNode t : plan.get("tasks")) {
            Set<Integer> s = new HashSet<>();
            for (JsonNode p : t.get("partitions")) s.add(p.get("partition").asInt());
            m.put(t.get("task").asInt(), s);
        }
        return m;
    }

    static void runKplane() throws Exception {
        int tasks = members * consumers;
        HttpServer srv = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
        srv.createContext("/in", ex -> {
            byte[] body;
            try (InputStream in = ex.getRequestBody()) { body = in.readAllBytes(); }
            receive(body, System.nanoTime());
            ex.sendResponseHeaders(204, -1);
            ex.close();
        });
        srv.setExecutor(Executors.newFixedThreadPool(16));
        srv.start();
        String recv = "http://127.0.0.1:" + srv.getAddress().getPort() + "/in";
        String cluster = "failover-" + UUID.randomUUID().toString().substring(0, 8);
        Set<Integer> live = new HashSet<>();
        for (int i = 0; i < kplaneUrls.length; i++) live.add(i);
        int via = 0; // writes go through a live instance (followers forward them to the leader)
        try {
            api(kplaneUrls[via], "POST", "/clusters", "{\"name\":\"" + cluster + "\",\"bootstrap_servers\":\"" + bootstrap + "\"}");
            api(kplaneUrls[via], "POST", "/clusters/" + cluster + "/topics", "{\"name\":\"" + topic + "\"}");
            // linger 0: each run of records a task hands over goes out at once
            api(kplaneUrls[via], "POST", "/groups", "{\"name\":\"" + group + "\",\"topics\":[{\"cluster\":\"" + cluster
                    + "\",\"topic\":\"" + topic + "\"}],\"parallelism\":" + tasks + ",\"strategy\":\"balanced\","
                    + "\"start_offset\":\"earliest\",\"sink\":{\"type\":\"http\",\"url\":\"" + recv + "\","
                    + "\"format\":\"json_lines\",\"batch\":{\"max_messages\":500,\"linger_ms\":0}}}");
            Map<Integer, Set<Integer>> taskParts = taskPartitions(api(kplaneUrls[via], "POST", "/groups/" + group + "/plans", "{}"));
            long started = System.nanoTime();
            api(kplaneUrls[via], "POST", "/groups/" + group + "/start", null);
            log(kplaneUrls.length + " instances, a group of " + tasks + " tasks started; session "
                    + view(via).raw.replaceAll(".*\"session_timeout_ms\":([0-9]+).*", "$1") + " ms");
            String[] rounds = kill.split(",");
            for (int r = 0; r < rounds.length; r++) {
                String victimKind = rounds[r];
                // settled: every task on exactly one live instance, each live one running some,
                // every partition flowing, and no placement change for steadyS
                long deadline = System.nanoTime() + (long) (settleS * 1e9);
                Map<Integer, Integer> last = null;
                long since = System.nanoTime();
                View v;
                while (true) {
                    v = view(via);
                    long now = System.nanoTime();
                    boolean ok = spread(v, tasks, live);
                    if (!ok || !v.owner.equals(last)) since = now;
                    last = ok ? v.owner : null;
                    if (ok && now - since >= steadyS * 1e9 && allFlowingSince(Math.max(since, started))) break;
                    // a build whose instances place no tasks says so after a while, not at the end
                    if (v.owner.isEmpty() && r == 0 && now - started > Math.min(30, settleS) * 1e9) {
                        log("GET /instances: " + v.raw);
                        throw new Failed("kplane: no instance reports running a task of the group "
                                + String.format(Locale.ROOT, "%.0f s after its start (its partitions flow: %s), so no task can "
                                + "move on a kill", (now - started) / 1e9, allFlowingSince(started) ? "yes" : "no"));
                    }
                    if (now > deadline) {
                        log("GET /instances: " + v.raw);
                        throw new Failed("kplane: the tasks never ran spread over the " + live.size()
                                + " live instances (each task on one, each instance some) within " + settleS
                                + " s (partitions flowing: " + (allFlowingSince(started) ? "yes" : "no") + ")");
                    }
                    Thread.sleep(200);
                }
                int victim = -1;
                for (int i : live) {
                    boolean runs = v.owner.containsValue(i), leads = v.leader == i;
                    if (runs && (victimKind.equals("leader") ? leads : !leads)) { victim = i; break; }
                }
                if (victim < 0) throw new Failed("kplane: no " + victimKind + " instance runs tasks: " + v.raw);
                Set<Integer> movedTasks = new HashSet<>(), moved = new HashSet<>();
                for (Map.Entry<Integer, Integer> e : v.owner.entrySet())
                    if (e.getValue() == victim) { movedTasks.add(e.getKey()); moved.addAll(taskParts.get(e.getKey())); }
                int dupsBefore = 0;
                for (Part p : parts) dupsBefore += p.dups();
                log("settled and steady for " + steadyS + " s: " + v.owner + ", leader " + v.leader);
                long killAt = System.nanoTime();
                ProcessHandle.of(kplanePids[victim]).ifPresent(ProcessHandle::destroyForcibly);
                live.remove(victim);
                via = live.iterator().next();
                log("killed the " + victimKind + " (instance " + victim + ", pid " + kplanePids[victim] + ", tasks "
                        + movedTasks + ", " + moved.size() + " partitions)");
                // when the survivors report every task placed again: beside the arrivals
                final Set<Integer> alive = new HashSet<>(live);
                final int ask = via;
                Thread placed = new Thread(() -> {
                    try {
                        while (true) {
                            View w = view(ask);
                            if (spread(w, tasks, alive)) {
                                log(String.format(Locale.ROOT, "the survivors report every task again %.0f ms after the kill: %s",
                                        (System.nanoTime() - killAt) / 1e6, w.owner));
                                return;
                            }
                            Thread.sleep(100);
                        }
                    } catch (Exception e) {
                        // measure() decides
                    }
                }, "placement");
                placed.setDaemon(true);
                placed.start();
                measure("kplane", live.size() + 1, tasks / (live.size() + 1), killAt, moved, dupsBefore,
                        " kill=" + victimKind + " tasks_moved=" + movedTasks.size());
                placed.interrupt();
            }
        } finally {
            try {
                api(kplaneUrls[via], "POST", "/groups/" + group + "/stop", null);
            } catch (Exception e) {
                log("stop: " + e.getMessage());
            }
            srv.stop(0);
        }
    }

    // ------------------------------------------------------------------ observer
    static void observe(String[] a) throws Exception {
        parse(a, 0);
        String run = UUID.randomUUID().toString().substring(0, 8);
        topic = topic != null ? topic : "failover-" + run;
        group = group != null ? group : "failover-" + protocol + "-" + run;
        parts = new Part[partitions];
        for (int q = 0; q < partitions; q++) parts[q] = new Part();
        createTopic();
        AtomicBoolean stop = new AtomicBoolean();
        int rc = 1;
        try (KafkaProducer<byte[], byte[]> pr = producer()) {
            Thread prod = new Thread(() -> produce(pr, stop), "producer");
            prod.start();
            try {
                if (protocol.equals("kplane")) runKplane();
                else runKafka();
                rc = 0;
            } catch (Failed e) {
                System.out.println("FAILED: " + e.getMessage());
            } finally {
                stop.set(true);
                prod.join();
            }
        }
        System.out.flush();
        System.exit(rc);
    }

    public static void main(String[] a) throws Exception {
        if (a.length > 0 && a[0].equals("member")) member(a);
        else observe(a);
    }
}
