/**
 * Certificates for the TLS variant (`memory-tls`): a throwaway CA, a server certificate for 127.0.0.1 and a client
 * certificate, made once per run with the `openssl` CLI. The service runs as Envoy Gateway runs it: TLS with client
 * certificates required (GRPC_SERVER_TLS_CA_CERT); the load generator presents the client certificate.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/**
 * @typedef {{ caFile: string, serverCert: string, serverKey: string, ca: Buffer, cert: Buffer, key: Buffer }} BenchTls
 * `ca`, `cert`, `key`: what a client needs (the CA to trust, its own certificate and key).
 */

/** @returns {BenchTls} */
export function makeBenchTls(/** @type {string} */ dir) {
  fs.mkdirSync(dir, { recursive: true });
  const f = (name) => path.join(dir, name);
  const openssl = (args) => execFileSync("openssl", args, { stdio: "pipe" });
  openssl(["req", "-x509", ...EC, "-keyout", f("ca.key"), "-out", f("ca.crt"), "-days", "2", "-subj", "/CN=bench CA"]);
  for (const [name, ext] of [
    ["server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"],
    ["client", "subjectAltName=DNS:bench-client\nextendedKeyUsage=clientAuth\n"],
  ]) {
    fs.writeFileSync(f(`${name}.ext`), ext);
    openssl(["req", "-new", ...EC, "-keyout", f(`${name}.key`), "-out", f(`${name}.csr`), "-subj", `/CN=${name}`]);
    openssl([
      ...["x509", "-req", "-in", f(`${name}.csr`), "-CA", f("ca.crt"), "-CAkey", f("ca.key"), "-CAcreateserial"],
      ...["-out", f(`${name}.crt`), "-days", "2", "-extfile", f(`${name}.ext`)],
    ]);
  }
  return {
    caFile: f("ca.crt"),
    serverCert: f("server.crt"),
    serverKey: f("server.key"),
    ca: fs.readFileSync(f("ca.crt")),
    cert: fs.readFileSync(f("client.crt")),
    key: fs.readFileSync(f("client.key")),
  };
}

/** The service's TLS environment (Envoy Gateway's variable names). */
export function tlsEnv(/** @type {BenchTls} */ t) {
  return {
    GRPC_SERVER_USE_TLS: "true",
    GRPC_SERVER_TLS_CERT: t.serverCert,
    GRPC_SERVER_TLS_KEY: t.serverKey,
    GRPC_SERVER_TLS_CA_CERT: t.caFile,
  };
}
