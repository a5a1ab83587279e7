// Handover.java — how long partitions stop when a consumer group grows from 10 to 15 members
// (tasks) on a real Kafka broker: a kplane live plan change against a group of Java
// KafkaConsumers under Kafka's classic eager RangeAssignor, classic CooperativeStickyAssignor
// and the KIP-848 `consumer` protocol. Driven by bench/handover/run.sh (see its header).
//
// One JVM, one clock (System.nanoTime): a producer sends one record to every partition at a
// fixed rate; every message's first arrival is recorded per partition and offset (Kafka: when
// poll() returns it; kplane: when the bench's own HTTP receiver gets the http sink's request);
// the group grows at a known instant; gaps between consecutive offsets of a partition are
// measured before (steady state) and around the change. The default rate, 1,000 records a
// second per partition, makes the ruler fine: a gap cannot be measured shorter than the
// interval between two records, and at 100/s that floor alone (10 ms) was 1/15 of the eager
// group's whole pause.
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;

import java.io.FileWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class Handover {
    // --- options ------------------------------------------------------------------------
    static String bootstrap, kplaneUrl, timelinePath, caseName;
    static int partitions = 30, from = 10, to = 15, rate = 1000;
    static double warmS = 2, baselineS = 5, holdS = 3, settleLimitS = 90;

    static long t0 = System.nanoTime();
    static double ms(long ns) { return (ns - t0) / 1e6; }
    static void log(String s) { System.out.printf(Locale.ROOT, "# %8.1f ms %s%n", ms(System.nanoTime()), s); }

    // --- arrivals: the first arrival of every offset, per partition -----------------------
    static final class Part {
        long[] at = new long[4096];   // arrival ns by offset; 0 = not yet
        long[] sent = new long[4096]; // send ns by offset (carried in the value)
        long last;                    // latest arrival
        int dups;
        synchronized void add(long off, long t, long s) {
            if (off >= at.length) {
                int n = (int) Math.max(off + 1, at.length * 2L);
                at = Arrays.copyOf(at, n);
                sent = Arrays.copyOf(sent, n);
            }
            if (at[(int) off] != 0) { dups++; return; }
            at[(int) off] = t;
            sent[(int) off] = s;
            if (t > last) last = t;
        }
        synchronized long[] sentSnapshot(long n) { return Arrays.copyOf(sent, (int) n); }
        synchronized long last() { return last; }
        synchronized long[] all() { return at.clone(); }
        synchronized long[] snapshot(long n) { return Arrays.copyOf(at, (int) n); }
    }
    static Part[] parts;
    static AtomicLongArray produced; // next offset per partition (acknowledged by the broker)

    // --- producer: one record to every partition per tick ----------------------------------
    static KafkaProducer<byte[], byte[]> producer;
    static ScheduledExecutorService ticker;
    static void startProducer(String topic) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("linger.ms", "0");
        p.put("acks", "1");
        p.put("enable.idempotence", "false");
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        producer = new KafkaProducer<>(p);
        ticker = Executors.newSingleThreadScheduledExecutor();
        ticker.scheduleAtFixedRate(() -> {
            // the send time, 16 decimal digits: the arrival side tells a producer stall from a pause
            byte[] value = String.format(Locale.ROOT, "%016d", System.nanoTime()).getBytes(StandardCharsets.US_ASCII);
            for (int i = 0; i < partitions; i++) {
                final int part = i;
                producer.send(new ProducerRecord<>(topic, part, null, value), (md, e) -> {
                    if (e == null) produced.accumulateAndGet(part, md.offset() + 1, Math::max);
                });
            }
        }, 0, 1_000_000_000L / rate, TimeUnit.NANOSECONDS);
    }
    static void stopProducer() throws InterruptedException {
        ticker.shutdown();
        ticker.awaitTermination(5, TimeUnit.SECONDS);
        producer.flush();
        producer.close();
    }

    static void createTopic(String topic) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        try (Admin a = Admin.create(p)) {
            a.createTopics(List.of(new NewTopic(topic, partitions, (short) 1))).all().get(30, TimeUnit.SECONDS);
        }
    }

    static void sleepS(double s) throws InterruptedException { Thread.sleep((long) (s * 1000)); }

    // true once every partition has a message that arrived after @p since
    static boolean allArrivedAfter(long since) {
        for (Part p : parts) if (p.last() <= since) return false;
        return true;
    }
    static long waitAllArrivedAfter(long since, double limitS) throws InterruptedException {
        long deadline = System.nanoTime() + (long) (limitS * 1e9);
        while (!allArrivedAfter(since)) {
            if (System.nanoTime() > deadline) return -1;
            Thread.sleep(5);
        }
        long latest = since;
        for (Part p : parts) {
            long[] a = p.all();
            long first = Long.MAX_VALUE;
            for (long t : a) if (t > since && t < first) first = t;
            latest = Math.max(latest, first);
        }
        return latest;
    }

    // --- Kafka: a group of KafkaConsumers ----------------------------------------------------
    static final class Member implements Runnable, ConsumerRebalanceListener {
        final KafkaConsumer<byte[], byte[]> c;
        final Set<Integer> owned = ConcurrentHashMap.newKeySet();
        final AtomicBoolean stop = new AtomicBoolean();
        final String topic;
        Thread thread;
        Member(String topic, String group, String protocol) {
            this.topic = topic;
            Properties p = new Properties();
            p.put("bootstrap.servers", bootstrap);
            p.put("group.id", group);
            p.put("auto.offset.reset", "earliest");
            p.put("key.deserializer", ByteArrayDeserializer.class.getName());
            p.put("value.deserializer", ByteArrayDeserializer.class.getName());
            switch (protocol) {
                case "range":
                    p.put("group.protocol", "classic");
                    p.put("partition.assignment.strategy", "org.apache.kafka.clients.consumer.RangeAssignor");
                    break;
                case "cooperative":
                    p.put("group.protocol", "classic");
                    p.put("partition.assignment.strategy", "org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
                    break;
                case "consumer":
                    p.put("group.protocol", "consumer");
                    break;
                default:
                    throw new IllegalArgumentException("protocol " + protocol);
            }
            String hb = System.getenv("KPLANE_HANDOVER_HEARTBEAT_MS");
            if (hb != null && !hb.isEmpty() && !protocol.equals("consumer")) p.put("heartbeat.interval.ms", hb);
            c = new KafkaConsumer<>(p);
        }
        public void onPartitionsRevoked(Collection<TopicPartition> l) { for (TopicPartition tp : l) owned.remove(tp.partition()); }
        public void onPartitionsLost(Collection<TopicPartition> l) { for (TopicPartition tp : l) owned.remove(tp.partition()); }
        public void onPartitionsAssigned(Collection<TopicPartition> l) { for (TopicPartition tp : l) owned.add(tp.partition()); }
        public void run() {
            try {
                c.subscribe(List.of(topic), this);
                while (!stop.get()) {
                    ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(50));
                    long now = System.nanoTime();
                    for (ConsumerRecord<byte[], byte[]> r : rs)
                        parts[r.partition()].add(r.offset(), now, Long.parseLong(new String(r.value(), StandardCharsets.US_ASCII)));
                }
            } catch (WakeupException e) {
                // stopping
            } finally {
                c.close(Duration.ofSeconds(5));
            }
        }
        void start() { thread = new Thread(this, "member"); thread.start(); }
    }

    static boolean balanced(List<Member> ms, int n) {
        if (ms.size() != n) return false;
        int sum = 0, lo = Integer.MAX_VALUE, hi = 0;
        for (Member m : ms) { int k = m.owned.size(); sum += k; lo = Math.min(lo, k); hi = Math.max(hi, k); }
        return sum == partitions && hi - lo <= 1 && lo == partitions / n;
    }
    static long waitBalanced(List<Member> ms, int n, double limitS) throws InterruptedException {
        long deadline = System.nanoTime() + (long) (limitS * 1e9);
        while (!balanced(ms, n)) {
            if (System.nanoTime() > deadline) return -1;
            Thread.sleep(5);
        }
        return System.nanoTime();
    }
    static Map<Integer, Integer> owners(List<Member> ms) {
        Map<Integer, Integer> o = new HashMap<>();
        for (int i = 0; i < ms.size(); i++) for (int p : ms.get(i).owned) o.put(p, i);
        return o;
    }

    static void runKafka(String protocol) throws Exception {
        String stamp = Long.toString(System.currentTimeMillis());
        String topic = "handover-" + protocol + "-" + stamp, group = "handover-" + protocol + "-" + stamp;
        createTopic(topic);
        startProducer(topic);
        List<Member> ms = new ArrayList<>();
        for (int i = 0; i < from; i++) ms.add(new Member(topic, group, protocol));
        for (Member m : ms) m.start();
        long b = waitBalanced(ms, from, 60);
        if (b < 0) throw new IllegalStateException("group of " + from + " did not balance in 60 s");
        if (waitAllArrivedAfter(b, 30) < 0) throw new IllegalStateException("not every partition delivered");
        log(from + " members balanced; warm-up " + warmS + " s, steady window " + baselineS + " s");
        sleepS(warmS + baselineS);
        Map<Integer, Integer> before = owners(ms);
        long change = System.nanoTime();
        log("change: " + (to - from) + " members join");
        List<Member> added = new ArrayList<>();
        for (int i = from; i < to; i++) added.add(new Member(topic, group, protocol));
        for (Member m : added) m.start();
        ms.addAll(added);
        long bal = waitBalanced(ms, to, settleLimitS);
        long settled = bal < 0 ? -1 : waitAllArrivedAfter(bal, 30);
        Map<Integer, Integer> after = owners(ms);
        Set<Integer> moved = new HashSet<>();
        for (int p = 0; p < partitions; p++) if (!before.get(p).equals(after.get(p))) moved.add(p);
        finish(change, settled, moved, () -> {
            for (Member m : ms) { m.stop.set(true); m.c.wakeup(); }
            for (Member m : ms) m.thread.join(10_000);
        });
    }

    // --- kplane: a running group, a live plan change ----------------------------------------
    static final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    static final ObjectMapper json = new ObjectMapper();

    static JsonNode api(String method, String path, String body) throws Exception {
        HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(kplaneUrl + "/api/v1" + path))
                .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json");
        rb.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> r = http.send(rb.build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() / 100 != 2)
            throw new IllegalStateException(method + " " + path + " -> " + r.statusCode() + ": " + r.body());
        return r.body().isEmpty() ? null : json.readTree(r.body());
    }

    static Map<Integer, Integer> planOwners(JsonNode plan) {
        Map<Integer, Integer> o = new HashMap<>();
        for (JsonNode t : plan.get("tasks"))
            for (JsonNode p : t.get("partitions")) o.put(p.get("partition").asInt(), t.get("task").asInt());
        return o;
    }

    // The http sink's json_lines: {"cluster":..,"topic":..,"partition":N,"offset":M,...} per line.
    static int receive(byte[] body, long now) {
        String s = new String(body, StandardCharsets.UTF_8);
        int n = 0, i = 0;
        while ((i = s.indexOf("\"partition\":", i)) >= 0) {
            i += 12;
            int j = i;
            while (j < s.length() && Character.isDigit(s.charAt(j))) j++;
            int part = Integer.parseInt(s.substring(i, j));
            int k = s.indexOf("\"offset\":", j) + 9, e = k;
            while (e < s.length() && Character.isDigit(s.charAt(e))) e++;
            int v = s.indexOf("\"value\":\"", e) + 9, ve = s.indexOf('"', v);
            long sent = Long.parseLong(new String(Base64.getDecoder().decode(s.substring(v, ve)), StandardCharsets.US_ASCII));
            parts[part].add(Long.parseLong(s.substring(k, e)), now, sent);
            i = ve;
            n++;
        }
        return n;
    }

    static void runKplane() throws Exception {
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
        String stamp = Long.toString(System.currentTimeMillis());
        String topic = "handover-kplane-" + stamp, cluster = "handover-" + stamp, group = "handover-kplane-" + stamp;
        createTopic(topic);
        startProducer(topic);
        api("POST", "/clusters", "{\"name\":\"" + cluster + "\",\"bootstrap_servers\":\"" + bootstrap + "\"}");
        api("POST", "/clusters/" + cluster + "/topics", "{\"name\":\"" + topic + "\"}");
        // linger 0: each run of records a task hands over goes out at once (one request in
        // flight per task); nothing waits for a batch to fill.
        api("POST", "/groups", "{\"name\":\"" + group + "\",\"topics\":[{\"cluster\":\"" + cluster + "\",\"topic\":\""
                + topic + "\"}],\"parallelism\":" + from + ",\"strategy\":\"balanced\",\"start_offset\":\"earliest\","
                + "\"sink\":{\"type\":\"http\",\"url\":\"" + recv + "\",\"format\":\"json_lines\","
                + "\"batch\":{\"max_messages\":500,\"linger_ms\":0}}}");
        JsonNode p1 = api("POST", "/groups/" + group + "/plans", "{}");
        long b = System.nanoTime();
        api("POST", "/groups/" + group + "/start", null);
        if (waitAllArrivedAfter(b, 60) < 0) throw new IllegalStateException("not every partition delivered");
        log("kplane group of " + from + " tasks running; warm-up " + warmS + " s, steady window " + baselineS + " s");
        sleepS(warmS + baselineS);
        long change = System.nanoTime();
        log("change: POST plans {parallelism: " + to + ", apply: true}");
        JsonNode p2 = api("POST", "/groups/" + group + "/plans", "{\"parallelism\":" + to + ",\"apply\":true}");
        long applied = System.nanoTime();
        log(String.format(Locale.ROOT, "apply answered after %.1f ms", (applied - change) / 1e6));
        long settled = waitAllArrivedAfter(applied, settleLimitS);
        Map<Integer, Integer> before = planOwners(p1), after = planOwners(p2);
        Set<Integer> moved = new HashSet<>();
        for (int p = 0; p < partitions; p++) if (!before.get(p).equals(after.get(p))) moved.add(p);
        finish(change, settled, moved, () -> {
            api("POST", "/groups/" + group + "/stop", null);
            srv.stop(0);
        });
    }

    // --- measuring ----------------------------------------------------------------------------
    interface Stop { void run() throws Exception; }

    static double pct(double[] v, double q) {
        if (v.length == 0) return 0;
        double[] s = v.clone();
        Arrays.sort(s);
        return s[Math.min(s.length - 1, (int) Math.floor(q * (s.length - 1) + 0.5))];
    }

    static void finish(long change, long settled, Set<Integer> moved, Stop stop) throws Exception {
        if (settled < 0) log("NOT settled within " + settleLimitS + " s");
        else log(String.format(Locale.ROOT, "settled %.1f ms after the change; holding %.1f s", (settled - change) / 1e6, holdS));
        sleepS(holdS);
        long end = System.nanoTime();
        stopProducer();
        // drain: everything produced must arrive (at least once) before the group stops
        long deadline = System.nanoTime() + 20_000_000_000L;
        int missing;
        do {
            missing = 0;
            for (int p = 0; p < partitions; p++) {
                long n = produced.get(p);
                long[] a = parts[p].snapshot(n);
                for (long t : a) if (t == 0) missing++;
            }
            if (missing > 0) Thread.sleep(20);
        } while (missing > 0 && System.nanoTime() < deadline);
        stop.run();

        double interval = 1000.0 / rate;
        long baseFrom = change - (long) (baselineS * 1e9);
        long intervalNs = 1_000_000_000L / rate;
        // "During the change": the gaps that begin from one interval before the change (the
        // last message before it) to when the group settled. One already under way is the
        // machine's, not the change's; the hold after settling only lets the last messages drain.
        long until = settled < 0 ? end : settled;
        List<Double> baseGaps = new ArrayList<>();
        double[] longest = new double[partitions], baseLongest = new double[partitions];
        List<double[]> changeGaps = new ArrayList<>(); // {partition, start ms, end ms, gap ms}
        List<Double> lats = new ArrayList<>(), baseLats = new ArrayList<>();
        double sendGapMax = 0, latMax = 0, rawMax = 0;
        int dups = 0;
        for (int p = 0; p < partitions; p++) {
            long[] a = parts[p].snapshot(produced.get(p));
            long[] sn = parts[p].sentSnapshot(produced.get(p));
            for (int k = 1; k < a.length; k++)
                if (a[k] != 0 && a[k] >= change && a[k] <= until) {
                    double l = (a[k] - sn[k]) / 1e6;
                    lats.add(l);
                    latMax = Math.max(latMax, l);
                    if (sn[k - 1] != 0) sendGapMax = Math.max(sendGapMax, (sn[k] - sn[k - 1]) / 1e6);
                } else if (a[k] != 0 && a[k] >= baseFrom && a[k] < change)
                    baseLats.add((a[k] - sn[k]) / 1e6);
            dups += parts[p].dups;
            for (int k = 1; k < a.length; k++) {
                if (a[k] == 0 || a[k - 1] == 0 || a[k] < a[k - 1]) continue;
                long s = a[k - 1], e = a[k];
                // A late producer (its ticker not scheduled on a loaded machine) is no
                // reader's pause: the part of the send gap beyond the interval is taken out.
                long late = Math.max(0, sn[k] - sn[k - 1] - intervalNs);
                double raw = (e - s) / 1e6, g = Math.max(0, e - s - late) / 1e6;
                if (s >= baseFrom && e < change) {
                    // the typical time between deliveries: records that came in one poll or
                    // one request (gap 0) are one delivery
                    if (e > s) baseGaps.add(g);
                    baseLongest[p] = Math.max(baseLongest[p], g);
                } else if (s >= change - intervalNs && s <= until) {
                    longest[p] = Math.max(longest[p], g);
                    rawMax = Math.max(rawMax, raw);
                    changeGaps.add(new double[] {p, (e - change) / 1e6 - g, (e - change) / 1e6, g});
                }
            }
        }
        double[] bg = baseGaps.stream().mapToDouble(Double::doubleValue).toArray();
        // Stopped: a gap longer than the steady window's 99.9th percentile gap (one that long
        // comes once in a thousand deliveries when nothing changes), and never under 3 produce
        // intervals. At a fine produce interval the reader's own jitter (fetches, GC, the
        // machine) is many intervals long, and a fixed multiple of the interval would call
        // every partition of every reader stopped in steady state; the steady window's longest
        // gap is set by one machine-wide hiccup in three seconds and would hide real stops.
        double threshold = Math.max(3 * interval, pct(bg, 0.999));
        PrintWriter tl = timelinePath == null ? null : new PrintWriter(new FileWriter(timelinePath, true));
        if (tl != null) {
            tl.printf(Locale.ROOT, "window\t%s\t%.1f\t%.1f\t%.1f\t%.1f%n", caseName, (baseFrom - change) / 1e6,
                    (until - change) / 1e6, (end - change) / 1e6, threshold);
            for (double[] cg : changeGaps)
                if (cg[3] > threshold)
                    tl.printf(Locale.ROOT, "gap\t%s\t%d\t%d\t%.1f\t%.1f%n", caseName, (int) cg[0],
                            moved.contains((int) cg[0]) ? 1 : 0, cg[1], cg[2]);
        }
        if (tl != null) tl.close();
        double[] bl = baseLats.stream().mapToDouble(Double::doubleValue).toArray();
        int stopped = 0, stoppedUnmoved = 0, baseStopped = 0;
        double maxMoved = 0, maxUnmoved = 0;
        for (int p = 0; p < partitions; p++) {
            if (longest[p] > threshold) { stopped++; if (!moved.contains(p)) stoppedUnmoved++; }
            if (baseLongest[p] > threshold) baseStopped++;
            if (moved.contains(p)) maxMoved = Math.max(maxMoved, longest[p]);
            else maxUnmoved = Math.max(maxUnmoved, longest[p]);
        }
        System.out.printf(Locale.ROOT,
                "case=%s partitions=%d from=%d to=%d rate=%d interval_ms=%.1f threshold_ms=%.1f"
                        + " base_p50_ms=%.1f base_p99_ms=%.1f base_p999_ms=%.1f base_max_ms=%.1f base_stopped=%d"
                        + " moved=%d stopped=%d stopped_unmoved=%d gap_p50_ms=%.1f gap_max_ms=%.1f"
                        + " gap_max_moved_ms=%.1f gap_max_unmoved_ms=%.1f settle_ms=%.1f missing=%d duplicates=%d"
                        + " send_gap_max_ms=%.1f latency_p50_ms=%.1f latency_max_ms=%.1f raw_gap_max_ms=%.1f"
                        + " base_latency_p50_ms=%.1f base_latency_p99_ms=%.1f%n",
                caseName, partitions, from, to, rate, interval, threshold, pct(bg, 0.5), pct(bg, 0.99),
                pct(bg, 0.999), pct(bg, 1.0), baseStopped, moved.size(), stopped, stoppedUnmoved, pct(longest, 0.5), pct(longest, 1.0),
                maxMoved, maxUnmoved, settled < 0 ? -1.0 : (settled - change) / 1e6, missing, dups,
                sendGapMax, pct(lats.stream().mapToDouble(Double::doubleValue).toArray(), 0.5), latMax, rawMax,
                pct(bl, 0.5), pct(bl, 0.99));
    }

    public static void main(String[] args) throws Exception {
        String mode = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--bootstrap": bootstrap = args[++i]; break;
                case "--kplane": kplaneUrl = args[++i]; break;
                case "--timeline": timelinePath = args[++i]; break;
                case "--partitions": partitions = Integer.parseInt(args[++i]); break;
                case "--from": from = Integer.parseInt(args[++i]); break;
                case "--to": to = Integer.parseInt(args[++i]); break;
                case "--rate": rate = Integer.parseInt(args[++i]); break;
                case "--warm": warmS = Double.parseDouble(args[++i]); break;
                case "--baseline": baselineS = Double.parseDouble(args[++i]); break;
                case "--hold": holdS = Double.parseDouble(args[++i]); break;
                default: mode = a;
            }
        }
        if (mode == null || bootstrap == null || (mode.equals("kplane") && kplaneUrl == null)) {
            System.err.println("usage: Handover --bootstrap B [--kplane URL] [--timeline FILE] [--rate N] ... "
                    + "kplane|range|cooperative|consumer");
            System.exit(2);
        }
        caseName = mode;
        parts = new Part[partitions];
        for (int i = 0; i < partitions; i++) parts[i] = new Part();
        produced = new AtomicLongArray(partitions);
        if (mode.equals("kplane")) runKplane();
        else runKafka(mode);
        System.exit(0);
    }
}
