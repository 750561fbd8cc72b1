/**
 * Throwaway certificate authorities for TLS tests, made with the `openssl` CLI in a temporary directory: a CA, a
 * server certificate (SAN IP 127.0.0.1, DNS localhost and envoy-gateway) and client certificates with chosen SANs.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export interface IssuedCert {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface TestCa {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: Buffer;
  /** Issues a certificate; `san` like "DNS:envoy,URI:spiffe://x"; `usage` serverAuth or clientAuth. */
  issue(name: string, usage: "serverAuth" | "clientAuth" | "serverAuth,clientAuth", san?: string): Promise<IssuedCert>;
  remove(): void;
}

/** Creates a CA in a fresh temporary directory (`name` keeps two CAs apart in error messages). */
export async function createTestCa(name = "Sluice Test CA"): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-ca-"));
  const f = (file: string): string => join(dir, file);
  await run("openssl", [
    "req",
    "-x509",
    ...EC,
    "-keyout",
    f("ca.key"),
    "-out",
    f("ca.crt"),
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
  ]);
  let serial = 0;
  return {
    dir,
    caFile: f("ca.crt"),
    ca: readFileSync(f("ca.crt")),
    async issue(certName, usage, san) {
      const base = `${certName}-${++serial}`;
      writeFileSync(f(`${base}.ext`), `${san ? `subjectAltName=${san}\n` : ""}extendedKeyUsage=${usage}\n`);
      await run("openssl", [
        "req",
        "-new",
        ...EC,
        "-keyout",
        f(`${base}.key`),
        "-out",
        f(`${base}.csr`),
        "-subj",
        `/CN=${certName}`,
      ]);
      await run("openssl", [
        "x509",
        "-req",
        "-in",
        f(`${base}.csr`),
        "-CA",
        f("ca.crt"),
        "-CAkey",
        f("ca.key"),
        "-CAcreateserial",
        "-out",
        f(`${base}.crt`),
        "-days",
        "2",
        "-extfile",
        f(`${base}.ext`),
      ]);
      return {
        certFile: f(`${base}.crt`),
        keyFile: f(`${base}.key`),
        cert: readFileSync(f(`${base}.crt`)),
        key: readFileSync(f(`${base}.key`)),
      };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The server certificate SANs every test server uses. */
export const SERVER_SAN = "IP:127.0.0.1,DNS:localhost,DNS:envoy-gateway";
