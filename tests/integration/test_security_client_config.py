"""Issue 12: a cluster's librdkafka config cannot run commands, load code, read server files,
re-send a stored secret to another host, or keep a secret in the database that it only names."""
import json
import os
import sqlite3
import subprocess
import tempfile

import runtime_tools as rt
from kplane_harness import BIN, Server, assert_problem

EMBEDDED = {"brokers": 1, "topics": [{"name": "t", "partitions": 2}]}


def field_message(resp, field):
    assert_problem(resp, 400, field)
    msgs = [e["message"] for e in resp.json["errors"] if e["field"] == field]
    assert msgs, (field, resp)
    return msgs[0]


def build_marker_library(tmp, marker):
    """A shared library whose constructor creates @marker: proof that something loaded it."""
    src = os.path.join(tmp, "evil.c")
    lib = os.path.join(tmp, "evil.so")
    with open(src, "w") as f:
        f.write('#include <fcntl.h>\n#include <unistd.h>\n'
                '__attribute__((constructor)) static void kp_evil(void) {\n'
                f'    int fd = open("{marker}", O_CREAT | O_WRONLY, 0600);\n'
                '    if (fd >= 0) close(fd);\n}\n')
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", lib, src], check=True)
    return lib


def stored_doc(server, name):
    con = sqlite3.connect(server.db)
    try:
        row = con.execute("SELECT doc FROM clusters WHERE name = ?", (name,)).fetchone()
    finally:
        con.close()
    return json.loads(row[0]) if row else None


def db_bytes(server):
    data = b""
    for suffix in ("", "-wal", "-shm"):
        try:
            with open(server.db + suffix, "rb") as f:
                data += f.read()
        except OSError:
            pass
    return data


def test_kinit_cmd_is_refused_naming_it_and_never_runs(server):
    tmp = tempfile.mkdtemp(prefix="kp-kinit-")
    marker = os.path.join(tmp, "pwned")
    r = server.post("/api/v1/clusters", {"name": "krb", "bootstrap_servers": "127.0.0.1:1", "config": {
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "GSSAPI",
        "sasl.kerberos.kinit.cmd": f"touch {marker}; id > {tmp}/who"}})
    assert "shell command" in field_message(r, "config.sasl.kerberos.kinit.cmd")
    assert not os.path.exists(marker)
    assert_problem(server.get("/api/v1/clusters/krb/metadata"), 404)
    assert not os.path.exists(marker) and not os.path.exists(os.path.join(tmp, "who"))


def test_kinit_cmd_stored_before_the_allow_list_is_refused_when_used(server):
    """A database written by an older build: the command must not run at start-up or on a read."""
    tmp = tempfile.mkdtemp(prefix="kp-kinit-")
    marker = os.path.join(tmp, "pwned")
    rt.ok(server.post("/api/v1/clusters", {"name": "krb", "bootstrap_servers": "127.0.0.1:1"}), 201)
    server.stop()
    doc = stored_doc(server, "krb")
    doc["config"] = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "GSSAPI",
                     "sasl.kerberos.kinit.cmd": f"touch {marker}"}
    con = sqlite3.connect(server.db)
    con.execute("UPDATE clusters SET doc = ? WHERE name = 'krb'", (json.dumps(doc),))
    con.commit()
    con.close()
    server.start()
    r = server.get("/api/v1/clusters/krb/metadata")
    assert_problem(r, 400)
    assert "sasl.kerberos.kinit.cmd" in r.json["detail"], r
    assert not os.path.exists(marker)


def test_kerberos_principal_cannot_smuggle_a_command_into_the_default_kinit(server):
    r = server.post("/api/v1/clusters", {"name": "krb", "bootstrap_servers": "127.0.0.1:1", "config": {
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "GSSAPI",
        "sasl.kerberos.principal": "x; touch /tmp/kp-principal-pwned"}})
    field_message(r, "config.sasl.kerberos.principal")
    assert not os.path.exists("/tmp/kp-principal-pwned")


def test_code_loading_properties_are_refused_before_the_library_loads(server):
    tmp = tempfile.mkdtemp(prefix="kp-so-")
    marker = os.path.join(tmp, "loaded")
    lib = build_marker_library(tmp, marker)
    for prop in ("plugin.library.paths", "ssl.engine.location", "ssl.providers"):
        r = server.post("/api/v1/clusters", {"name": "so", "bootstrap_servers": "127.0.0.1:1",
                                             "config": {"security.protocol": "SSL", prop: lib}})
        assert "loads" in field_message(r, f"config.{prop}")
        assert not os.path.exists(marker), f"{prop}: the library's constructor ran inside kplane"
    assert server.get("/livez").status == 200


def test_refused_ssl_provider_does_not_break_later_tls_clusters(server):
    r = server.post("/api/v1/clusters", {"name": "p", "bootstrap_servers": "127.0.0.1:1",
                                         "config": {"security.protocol": "SSL", "ssl.providers": "nosuchprovider"}})
    field_message(r, "config.ssl.providers")
    r = server.post("/api/v1/clusters", {"name": "tls", "bootstrap_servers": "127.0.0.1:1",
                                         "config": {"security.protocol": "SSL"}})
    assert r.status == 201, r


def test_put_to_another_host_with_a_masked_secret_is_refused_and_keeps_the_cluster(server):
    config = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
              "sasl.username": "u", "sasl.password": "hunter2"}
    rt.ok(server.post("/api/v1/clusters", {"name": "prod", "bootstrap_servers": "127.0.0.1:1",
                                           "config": config}), 201)
    masked = dict(config, **{"sasl.password": "******"})
    r = server.put("/api/v1/clusters/prod", {"bootstrap_servers": "attacker.example:9092", "config": masked})
    assert "secret again" in field_message(r, "config.sasl.password")
    doc = stored_doc(server, "prod")
    assert doc["bootstrap_servers"] == "127.0.0.1:1" and doc["config"]["sasl.password"] == "hunter2", doc
    # a changed security property with the stored secret is refused too
    r = server.put("/api/v1/clusters/prod", {"bootstrap_servers": "127.0.0.1:1",
                                             "config": dict(masked, **{"sasl.mechanism": "SCRAM-SHA-256"})})
    field_message(r, "config.sasl.password")
    assert stored_doc(server, "prod")["config"] == config
    # same place, same security: "******" keeps the stored secret
    r = server.put("/api/v1/clusters/prod", {"bootstrap_servers": "127.0.0.1:1",
                                             "config": dict(masked, **{"client.id": "x"})})
    assert r.status == 200 and r.json["config"]["sasl.password"] == "******", r
    assert stored_doc(server, "prod")["config"]["sasl.password"] == "hunter2"
    # elsewhere with the secret given again: fine
    r = server.put("/api/v1/clusters/prod", {"bootstrap_servers": "127.0.0.2:1",
                                             "config": dict(config, **{"sasl.password": "other"})})
    assert r.status == 200, r
    assert stored_doc(server, "prod")["config"]["sasl.password"] == "other"


def test_file_property_outside_the_files_dir_answers_the_same_whether_or_not_the_file_exists(make_server):
    files = tempfile.mkdtemp(prefix="kp-files-")
    for env in ({}, {"KPLANE_CLIENT_FILES_DIR": files}):
        s = make_server(env=env)
        bodies = []
        for path in ("/etc/shadow", "/nonexistent", f"{files}/../../etc/shadow", f"{files}/missing.pem"):
            r = s.post("/api/v1/clusters", {"name": "f", "bootstrap_servers": "127.0.0.1:1",
                                            "config": {"security.protocol": "SSL", "ssl.ca.location": path}})
            field_message(r, "config.ssl.ca.location")
            bodies.append(r.body)
        assert len(set(bodies)) == 1, bodies
        # probe reads the system CA store only
        r = s.post("/api/v1/clusters", {"name": "probe", "bootstrap_servers": "127.0.0.1:1",
                                        "config": {"security.protocol": "SSL", "ssl.ca.location": "probe"}})
        assert r.status == 201, r
        s.stop()


def test_file_property_under_the_files_dir_is_accepted(make_server, tmp_path):
    ca = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                         "-subj", "/CN=kplane-test", "-keyout", str(tmp_path / "ca.key"),
                         "-out", str(tmp_path / "ca.pem")], capture_output=True)
    assert ca.returncode == 0, ca.stderr
    s = make_server(env={"KPLANE_CLIENT_FILES_DIR": str(tmp_path)})
    r = s.post("/api/v1/clusters", {"name": "f", "bootstrap_servers": "127.0.0.1:1",
                                    "config": {"security.protocol": "SSL", "ssl.ca.location": "ca.pem"}})
    assert r.status == 201 and r.json["config"]["ssl.ca.location"] == "ca.pem", r


def test_env_reference_resolves_at_use_and_never_reaches_the_database(make_server):
    secret = "kp-env-secret-5f1c9a"
    s = make_server(env={"KPLANE_SECRET_X": secret})
    # librdkafka's mock cluster speaks PLAINTEXT only: the password is resolved into the
    # conf (proved below by taking the variable away) but not sent
    config = {"security.protocol": "PLAINTEXT", "sasl.mechanism": "PLAIN",
              "sasl.username": "u", "sasl.password": "${env:KPLANE_SECRET_X}"}
    r = s.post("/api/v1/clusters", {"name": "e", "embedded": EMBEDDED, "config": config})
    assert r.status == 201, r
    assert r.json["config"]["sasl.password"] == "${env:KPLANE_SECRET_X}" and secret not in r.body
    md = rt.ok(s.get("/api/v1/clusters/e/metadata"), 200)
    assert [t["name"] for t in md["topics"]] == ["t"], md
    assert secret not in s.get("/api/v1/clusters").body
    # a variable outside KPLANE_SECRET_*, or one not set, is refused at registration
    for ref, why in (("${env:HOME}", "may only reference"), ("${env:KPLANE_SECRET_UNSET}", "not set")):
        r = s.post("/api/v1/clusters", {"name": "bad", "bootstrap_servers": "127.0.0.1:1",
                                        "config": dict(config, **{"sasl.password": ref})})
        assert why in field_message(r, "config.sasl.password")
    s.stop()
    assert secret.encode() not in db_bytes(s)
    assert stored_doc(s, "e")["config"]["sasl.password"] == "${env:KPLANE_SECRET_X}"
    # resolved at use: without the variable the same stored cluster cannot be read
    s.env.pop("KPLANE_SECRET_X")
    s.start()
    r = s.get("/api/v1/clusters/e/metadata")
    assert_problem(r, 400)
    assert "KPLANE_SECRET_X is not set" in r.json["detail"], r


def test_client_config_allow_widens_the_list(make_server):
    r = make_server().post("/api/v1/clusters", {"name": "d", "bootstrap_servers": "127.0.0.1:1",
                                                "config": {"debug": "broker"}})
    assert "logging" in field_message(r, "config.debug")
    s = make_server(env={"KPLANE_CLIENT_CONFIG_ALLOW": "debug, statistics.interval.ms"})
    r = s.post("/api/v1/clusters", {"name": "d", "bootstrap_servers": "127.0.0.1:1",
                                    "config": {"debug": "broker", "statistics.interval.ms": 0}})
    assert r.status == 201, r


def test_bad_operator_settings_stop_the_start():
    for env in ({"KPLANE_CLIENT_CONFIG_ALLOW": "group.id"},
                {"KPLANE_CLIENT_FILES_DIR": "/nonexistent/kplane-client-files"}):
        s = Server(env=env)
        p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:0", "--db", s.db],
                           env=s.env, capture_output=True, text=True, timeout=20)
        assert p.returncode == 2, (env, p)
        assert list(env)[0] in p.stderr, p.stderr
