"""Throw-away X.509 material for the front door's TLS tests, made with the
openssl command line in a temp dir: a CA, a server certificate for
127.0.0.1/localhost and a client certificate, all signed by that CA."""
import os
import subprocess


def _run(*argv, cwd):
    subprocess.run(list(argv), cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    key, crt = os.path.join(d, name + "-key.pem"), os.path.join(d, name + ".pem")
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=sparkshim test CA %s" % name, "-keyout", key, "-out", crt,
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign",
         cwd=d)
    return crt, key


def make_cert(d, name, ca, server=True):
    """A leaf certificate signed by ca (crt, key); returns (crt, key)."""
    key, csr, crt = (os.path.join(d, name + s) for s in ("-key.pem", ".csr", ".pem"))
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        if server:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        else:
            f.write("extendedKeyUsage=clientAuth\n")
    _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s" % name,
         "-keyout", key, "-out", csr, cwd=d)
    _run("openssl", "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
         "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt, cwd=d)
    return crt, key


def read(path):
    with open(path, "rb") as f:
        return f.read()
