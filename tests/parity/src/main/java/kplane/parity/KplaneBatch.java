// Runs `kplane plan --batch` once, feeding every request line and collecting one answer line each.
package kplane.parity;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

final class KplaneBatch {
    private KplaneBatch() {
    }

    /* Returns the answer lines in request order. Throws IOException when kplane cannot be
     * started, exits non-zero, or answers a different number of lines. */
    static List<String> run(String kplane, List<String> requests, long timeoutSeconds)
            throws IOException, InterruptedException {
        File stderr = File.createTempFile("kplane-parity-", ".stderr");
        stderr.deleteOnExit();
        ProcessBuilder pb = new ProcessBuilder(kplane, "plan", "--batch");
        pb.redirectError(stderr);
        Process proc = pb.start();

        /* Writing from a second thread: kplane may answer before it has read everything, and
         * both pipes filling up would deadlock. */
        IOException[] writeError = new IOException[1];
        Thread writer = new Thread(() -> {
            try (BufferedWriter w = new BufferedWriter(
                    new OutputStreamWriter(proc.getOutputStream(), StandardCharsets.UTF_8),
                    1 << 16)) {
                for (String r : requests) {
                    w.write(r);
                    w.write('\n');
                }
            } catch (IOException e) {
                writeError[0] = e;
            }
        }, "kplane-stdin");
        writer.setDaemon(true);
        writer.start();

        /* A watchdog, so a kplane that hangs with its stdout open cannot hang the harness. */
        boolean[] timedOut = new boolean[1];
        Thread watchdog = new Thread(() -> {
            try {
                if (!proc.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                    timedOut[0] = true;
                    proc.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "kplane-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();

        List<String> answers = new ArrayList<>(requests.size());
        try (BufferedReader r = new BufferedReader(
                new InputStreamReader(proc.getInputStream(), StandardCharsets.UTF_8), 1 << 16)) {
            String line;
            while ((line = r.readLine()) != null) {
                answers.add(line);
            }
        }
        proc.waitFor();
        if (timedOut[0]) {
            throw new IOException("kplane plan --batch did not finish within " + timeoutSeconds + " s");
        }
        writer.join(TimeUnit.SECONDS.toMillis(5));
        int rc = proc.exitValue();
        String err = tail(stderr, 2000);
        if (rc != 0) {
            throw new IOException("kplane plan --batch exited " + rc + (err.isEmpty() ? "" : ", stderr:\n" + err));
        }
        if (writeError[0] != null) {
            throw new IOException("writing to kplane failed: " + writeError[0].getMessage()
                    + (err.isEmpty() ? "" : ", stderr:\n" + err));
        }
        if (answers.size() != requests.size()) {
            throw new IOException("kplane answered " + answers.size() + " lines for "
                    + requests.size() + " requests" + (err.isEmpty() ? "" : ", stderr:\n" + err));
        }
        return answers;
    }

    private static String tail(File f, int max) throws IOException {
        String s = new String(Files.readAllBytes(f.toPath()), StandardCharsets.UTF_8).strip();
        return s.length() <= max ? s : "..." + s.substring(s.length() - max);
    }
}
