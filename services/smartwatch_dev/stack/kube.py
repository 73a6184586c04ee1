"""etcd and kube-apiserver, run the way controller-runtime's envtest runs them: generated
certificates and service-account keys, RBAC on, an admin kubeconfig in the state folder.
No scheduler, controller manager or kubelet: objects are stored and validated, nothing runs."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from smartwatch_dev import toolchain
from smartwatch_dev.stack.process import reuse_port, spawn, wait_until

ADMIN_USER = "smartwatch-admin"


class Etcd:
    name = "etcd"

    def __init__(self, state: Path) -> None:
        self.dir = state / "etcd"

    def start(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        binary = toolchain.etcd_bin()
        self.dir.mkdir(parents=True, exist_ok=True)
        client, peer = reuse_port(previous, "port"), reuse_port(previous, "peer_port")
        log = self.dir / "etcd.log"
        proc = spawn([binary, "--name=default", f"--data-dir={self.dir / 'data'}",
                      f"--listen-client-urls=http://127.0.0.1:{client}",
                      f"--advertise-client-urls=http://127.0.0.1:{client}",
                      f"--listen-peer-urls=http://127.0.0.1:{peer}",
                      f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                      f"--initial-cluster=default=http://127.0.0.1:{peer}",
                      "--unsafe-no-fsync=true", "--log-level=warn"], log)
        record = {"pid": proc.pid, "address": f"http://127.0.0.1:{client}", "port": client,
                  "peer_port": peer, "log": str(log)}
        wait_until(lambda: self.healthy(record), 60, "etcd", proc, log)
        return record

    def healthy(self, record: dict[str, Any]) -> bool:
        try:
            with urllib.request.urlopen(f"{record['address']}/health", timeout=2) as resp:
                return b'"health":"true"' in resp.read()
        except OSError:
            return False


class KubeApiserver:
    name = "kube-apiserver"

    def __init__(self, state: Path) -> None:
        self.dir = state / "kube-apiserver"
        self.certs = self.dir / "certs"

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    def start(self, previous: dict[str, Any] | None, etcd: dict[str, Any]) -> dict[str, Any]:
        binary = toolchain.kube_bin("kube-apiserver")
        port = reuse_port(previous, "port")
        if not (self.certs / "ca.crt").exists():
            write_certificates(self.certs)
        c = self.certs
        log = self.dir / "kube-apiserver.log"
        proc = spawn([binary, f"--etcd-servers={etcd['address']}",
                      "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                      f"--secure-port={port}", f"--cert-dir={c}",
                      f"--tls-cert-file={c / 'apiserver.crt'}",
                      f"--tls-private-key-file={c / 'apiserver.key'}",
                      f"--client-ca-file={c / 'ca.crt'}",
                      f"--service-account-key-file={c / 'sa.pub'}",
                      f"--service-account-signing-key-file={c / 'sa.key'}",
                      f"--service-account-issuer=https://127.0.0.1:{port}",
                      "--authorization-mode=RBAC", "--allow-privileged=true",
                      "--service-cluster-ip-range=10.0.0.0/24",
                      "--disable-admission-plugins=ServiceAccount",
                      "--endpoint-reconciler-type=none", "-v=1"], log)
        server = f"https://127.0.0.1:{port}"
        self.kubeconfig.write_text(kubeconfig_text(server, c))
        self.kubeconfig.chmod(0o600)
        record = {"pid": proc.pid, "address": server, "port": port, "log": str(log),
                  "kubeconfig": str(self.kubeconfig)}
        wait_until(lambda: self.healthy(record), 120, "kube-apiserver", proc, log)
        return record

    def healthy(self, record: dict[str, Any]) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.certs / "ca.crt"))
        ctx.load_cert_chain(self.certs / "admin.crt", self.certs / "admin.key")
        try:
            with urllib.request.urlopen(f"{record['address']}/readyz", timeout=3,
                                        context=ctx) as resp:
                return resp.read().strip() == b"ok"
        except OSError:
            return False


def kubeconfig_text(server: str, certs: Path) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "smartwatch-local", "cluster": {
            "server": server, "certificate-authority": str(certs / "ca.crt")}}],
        "users": [{"name": ADMIN_USER, "user": {
            "client-certificate": str(certs / "admin.crt"),
            "client-key": str(certs / "admin.key")}}],
        "contexts": [{"name": "smartwatch-local", "context": {
            "cluster": "smartwatch-local", "user": ADMIN_USER, "namespace": "default"}}],
        "current-context": "smartwatch-local",
    })


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(_key_pem(key))
    path.chmod(0o600)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
             now: dt.datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650)))


def _ca(now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    usage = x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, encipher_only=False,
                          decipher_only=False)
    cert = (_builder(_name("smartwatch-local-ca"), _name("smartwatch-local-ca"), key, now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage, critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _issue(folder: Path, ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], stem: str,
           subject: x509.Name, usage: x509.ObjectIdentifier, now: dt.datetime,
           sans: list[x509.GeneralName] | None = None) -> None:
    """A certificate and key signed by the CA, as `<stem>.crt` and `<stem>.key`."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (_builder(subject, ca[1].subject, key, now)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca[0], hashes.SHA256())
    (folder / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(folder / f"{stem}.key", key)


def write_certificates(folder: Path) -> None:
    """A CA, the API server's serving certificate, an admin client certificate in
    system:masters, and the service-account signing key pair."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca = _ca(now)
    (folder / "ca.crt").write_bytes(ca[1].public_bytes(serialization.Encoding.PEM))
    _write_key(folder / "ca.key", ca[0])
    _issue(folder, ca, "apiserver", _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, now, [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost"),
        x509.DNSName("kubernetes"), x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc")])
    _issue(folder, ca, "admin", _name(ADMIN_USER, "system:masters"),
           ExtendedKeyUsageOID.CLIENT_AUTH, now)
    sa_key = ec.generate_private_key(ec.SECP256R1())
    _write_key(folder / "sa.key", sa_key)
    (folder / "sa.pub").write_bytes(sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
