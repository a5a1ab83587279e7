// Entry point: compares kplane's flink/range/roundrobin owners with Flink's and Kafka's own code.
package kplane.parity;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.kafka.common.TopicPartition;

public final class Parity {
    static final int EXIT_OK = 0;
    static final int EXIT_MISMATCH = 1;
    static final int EXIT_ERROR = 2;
    static final int MAX_REPORTED = 10;

    private Parity() {
    }

    private static void usage() {
        System.err.println("usage: Parity /path/to/kplane [--count N] [--seed S] [--timeout SECONDS]");
        System.exit(EXIT_ERROR);
    }

    public static void main(String[] args) throws Exception {
        String kplane = null;
        int count = 10_000;
        long seed = 20261125L;
        long timeout = 120;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--count":
                    if (++i >= args.length) usage();
                    count = Integer.parseInt(args[i]);
                    break;
                case "--seed":
                    if (++i >= args.length) usage();
                    seed = Long.parseLong(args[i]);
                    break;
                case "--timeout":
                    if (++i >= args.length) usage();
                    timeout = Long.parseLong(args[i]);
                    break;
                default:
                    if (kplane != null || args[i].startsWith("-")) usage();
                    kplane = args[i];
            }
        }
        if (kplane == null) {
            usage();
        }
        System.exit(run(kplane, count, seed, timeout));
    }

    /* The known vectors, so a wrong reference (wrong class, wrong version) fails loudly. */
    private static void selfCheck(Reference ref) {
        check("\"topic1\".hashCode() == -868034334", "topic1".hashCode() == -868034334);
        check("\"Aa\" and \"BB\" share a hash", "Aa".hashCode() == "BB".hashCode());
        check("clicks_eu has a negative hash*31",
                "clicks_eu".hashCode() * 31 < 0);
        /* ((-868034334 * 31) & 0x7FFFFFFF) % 7 == 3, so topic1-0 goes to task 3 of 7. */
        int start = ((("topic1".hashCode() * 31) & 0x7FFFFFFF) % 7);
        check("Flink owner of topic1-0 with 7 readers is " + start,
                ref.flinkOwner("topic1", 0, 7) == start);
        check("Flink owner of topic1-5 with 7 readers wraps",
                ref.flinkOwner("topic1", 5, 7) == (start + 5) % 7);
        new TopicPartition("topic1", 0); /* kafka-clients is on the class path */
    }

    private static void check(String what, boolean ok) {
        if (!ok) {
            throw new IllegalStateException("self-check failed: " + what);
        }
    }

    static int run(String kplane, int count, long seed, long timeout) throws Exception {
        long t0 = System.nanoTime();
        Reference ref = new Reference();
        selfCheck(ref);
        List<Topology> topologies = Topologies.build(count, seed);

        List<String> requests = new ArrayList<>(topologies.size() * Reference.STRATEGIES.length);
        for (String strategy : Reference.STRATEGIES) {
            for (Topology t : topologies) {
                requests.add(t.toJson(strategy));
            }
        }
        List<String> answers;
        try {
            answers = KplaneBatch.run(kplane, requests, timeout);
        } catch (java.io.IOException e) {
            System.out.println("parity: ERROR: " + e.getMessage());
            return EXIT_ERROR;
        }

        long compared = 0;
        long[] mismatches = new long[Reference.STRATEGIES.length];
        int reported = 0;
        int line = 0;
        for (int s = 0; s < Reference.STRATEGIES.length; s++) {
            String strategy = Reference.STRATEGIES[s];
            for (Topology t : topologies) {
                String request = requests.get(line);
                String answer = answers.get(line);
                line++;
                int[][] expected = ref.owners(t, strategy);
                int total = t.totalPartitions();
                compared += total;
                List<String> problems = compare(t, expected, answer);
                if (problems.isEmpty()) {
                    continue;
                }
                /* A wholesale failure (error, bad shape) counts every partition of the topology. */
                long bad = problems.size() == 1 && problems.get(0).startsWith("!") ? total : problems.size();
                mismatches[s] += bad;
                if (reported < MAX_REPORTED) {
                    System.out.println("MISMATCH strategy=" + strategy + " topology " + t.describe());
                    for (String p : problems.subList(0, Math.min(5, problems.size()))) {
                        System.out.println("  " + (p.startsWith("!") ? p.substring(1) : p));
                    }
                    if (problems.size() > 5) {
                        System.out.println("  ... " + (problems.size() - 5) + " more in this topology");
                    }
                    System.out.println("  request: " + abbreviate(request, 600));
                    System.out.println("  answer:  " + abbreviate(answer, 600));
                    reported++;
                }
            }
        }
        long totalMismatches = 0;
        StringBuilder sb = new StringBuilder();
        sb.append("parity: topologies=").append(topologies.size())
          .append(" partitions_compared=").append(compared);
        for (int s = 0; s < Reference.STRATEGIES.length; s++) {
            sb.append(' ').append(Reference.STRATEGIES[s]).append("_mismatches=").append(mismatches[s]);
            totalMismatches += mismatches[s];
        }
        sb.append(" seconds=").append(String.format("%.1f", (System.nanoTime() - t0) / 1e9));
        sb.append(totalMismatches == 0 ? " PASS" : " FAIL");
        System.out.println(sb);
        return totalMismatches == 0 ? EXIT_OK : EXIT_MISMATCH;
    }

    private static String abbreviate(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max) + "... (" + s.length() + " chars)";
    }

    /* One entry per differing partition; a single entry starting with '!' when the whole
     * answer is unusable (error, unparsable, wrong shape). */
    static List<String> compare(Topology t, int[][] expected, String answer) {
        List<String> out = new ArrayList<>();
        Object parsed;
        try {
            parsed = Json.parse(answer);
        } catch (IllegalArgumentException e) {
            out.add("!unparsable answer: " + e.getMessage());
            return out;
        }
        if (!(parsed instanceof Map)) {
            out.add("!answer is not an object");
            return out;
        }
        Map<?, ?> m = (Map<?, ?>) parsed;
        if (m.containsKey("error")) {
            out.add("!kplane error: " + m.get("error"));
            return out;
        }
        Object owners = m.get("owners");
        if (!(owners instanceof List) || ((List<?>) owners).size() != expected.length) {
            out.add("!\"owners\" is not a list of " + expected.length + " topics");
            return out;
        }
        List<?> perTopic = (List<?>) owners;
        for (int i = 0; i < expected.length; i++) {
            Object row = perTopic.get(i);
            String topic = t.topics.get(i);
            if (!(row instanceof List) || ((List<?>) row).size() != expected[i].length) {
                out.add("!owners of topic " + topic + " is not a list of "
                        + expected[i].length + " partitions");
                return out;
            }
            List<?> got = (List<?>) row;
            for (int p = 0; p < expected[i].length; p++) {
                Object g = got.get(p);
                if (!(g instanceof Long) || (Long) g != expected[i][p]) {
                    out.add("topic=" + topic + " partition=" + p + " expected=" + expected[i][p]
                            + " got=" + g);
                }
            }
        }
        return out;
    }
}
