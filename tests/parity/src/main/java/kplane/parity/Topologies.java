// Builds the fixed edge cases and the seeded random topologies the harness checks.
package kplane.parity;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

final class Topologies {
    /* Every character Kafka allows in a topic name. Their ASCII order ('-' < '.' < digits <
     * upper case < '_' < lower case) is what exposes a wrong sort in range/roundrobin. */
    static final String ALPHABET =
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
    static final int MAX_TOPIC_LEN = 249;
    static final int MAX_PARALLELISM = 500;
    static final int MAX_TOPICS = 5;
    static final int MAX_PARTITIONS = 200;

    private Topologies() {
    }

    static List<Topology> build(int count, long seed) {
        List<Topology> out = new ArrayList<>(count);
        addFixed(out);
        Random rnd = new Random(seed);
        while (out.size() < count) {
            out.add(random(out.size(), rnd));
        }
        return out;
    }

    private static void add(List<Topology> out, int parallelism, Object... topicAndCount) {
        List<String> topics = new ArrayList<>();
        int[] parts = new int[topicAndCount.length / 2];
        for (int i = 0; i < parts.length; i++) {
            topics.add((String) topicAndCount[2 * i]);
            parts[i] = (Integer) topicAndCount[2 * i + 1];
        }
        out.add(new Topology(out.size(), topics, parts, parallelism));
    }

    /* Hand-picked cases first, so a failure in them shows up among the first mismatches. */
    private static void addFixed(List<Topology> out) {
        add(out, 1, "topic1", 1);
        add(out, 7, "topic1", 20);
        add(out, 500, "topic1", 3);
        add(out, 4, "orders", 10, "payments", 10);
        /* "Aa" and "BB" have the same Java hashCode: flink must give them the same start. */
        add(out, 13, "Aa", 9, "BB", 9);
        /* Upper case sorts before lower case, '-' before '.' before digits before '_'. */
        add(out, 3, "b", 2, "B", 2, "a_", 2, "a-", 2, "a.", 2);
        add(out, 5, "abc.d", 4, "abc", 4, "abc0", 4);
        add(out, 6, "x".repeat(MAX_TOPIC_LEN), 17, "Z".repeat(MAX_TOPIC_LEN - 1) + "9", 5);
        add(out, 250, "t", 200, "u", 200, "v", 200, "w", 200, "x", 200);
        add(out, MAX_PARALLELISM, "only", 1);
        add(out, 2, "_", 1, "-", 1, "9", 1);
        /* A negative hash * 31, so the & 0x7FFFFFFF matters (checked in Parity.selfCheck). */
        add(out, 11, "clicks_eu", 33);
    }

    private static Topology random(int index, Random rnd) {
        int ntopics = 1 + rnd.nextInt(MAX_TOPICS);
        List<String> topics = new ArrayList<>(ntopics);
        Set<String> seen = new HashSet<>();
        int[] parts = new int[ntopics];
        while (topics.size() < ntopics) {
            String name;
            if (!topics.isEmpty() && rnd.nextInt(3) == 0) {
                name = lastCharVariant(topics.get(rnd.nextInt(topics.size())), rnd);
            } else {
                name = randomName(rnd);
            }
            if (name.equals(".") || name.equals("..") || !seen.add(name)) {
                continue; /* Kafka forbids "." and ".."; topics in one topology are distinct */
            }
            parts[topics.size()] = 1 + rnd.nextInt(MAX_PARTITIONS);
            topics.add(name);
        }
        int parallelism;
        switch (rnd.nextInt(4)) {
            case 0: /* small parallelism: many partitions per task */
                parallelism = 1 + rnd.nextInt(16);
                break;
            case 1: /* parallelism equal to or near the partition count */
                int total = 0;
                for (int p : parts) {
                    total += p;
                }
                parallelism = Math.max(1, Math.min(MAX_PARALLELISM, total + rnd.nextInt(5) - 2));
                break;
            default:
                parallelism = 1 + rnd.nextInt(MAX_PARALLELISM);
        }
        return new Topology(index, topics, parts, parallelism);
    }

    private static String randomName(Random rnd) {
        int r = rnd.nextInt(100);
        int len;
        if (r < 60) {
            len = 1 + rnd.nextInt(12);
        } else if (r < 95) {
            len = 13 + rnd.nextInt(40);
        } else {
            len = 53 + rnd.nextInt(MAX_TOPIC_LEN - 52);
        }
        StringBuilder sb = new StringBuilder(len);
        for (int i = 0; i < len; i++) {
            sb.append(ALPHABET.charAt(rnd.nextInt(ALPHABET.length())));
        }
        return sb.toString();
    }

    /* Same name but for the last character: neighbours in sort order with hashes one step apart. */
    private static String lastCharVariant(String base, Random rnd) {
        char c = ALPHABET.charAt(rnd.nextInt(ALPHABET.length()));
        return base.substring(0, base.length() - 1) + c;
    }
}
