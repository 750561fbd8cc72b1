/**
 * GRPC_SERVER_USE_TLS and friends: TLS on the gRPC listener, with the reference's variable names plus Envoy
 * Gateway's `GRPC_SERVER_TLS_CA_CERT` (EG sets it; the reference only reads `GRPC_CLIENT_TLS_CACERT`). A CA under
 * either name means client certificates are required and verified (the reference's RequireAndVerifyClientCert).
 * Security settings are honoured or refused: a TLS variable set without GRPC_SERVER_USE_TLS=true, a SAN without a
 * CA, or a file that cannot be read stops startup with the others' problems.
 */
import { accessSync, constants } from "node:fs";
import type { Env, Problems } from "./problems.js";

export interface GrpcTlsSettings {
  /** GRPC_SERVER_TLS_CERT: PEM certificate chain, re-read when it changes on disk. */
  readonly certFile: string;
  /** GRPC_SERVER_TLS_KEY: PEM private key, re-read with the certificate. */
  readonly keyFile: string;
  /** GRPC_CLIENT_TLS_CACERT or GRPC_SERVER_TLS_CA_CERT: when set, client certificates are required and verified. */
  readonly clientCaFile: string | undefined;
  /** GRPC_CLIENT_TLS_SAN: a verified client certificate must also carry this DNS, URI or IP subject alt name. */
  readonly clientSan: string | undefined;
}

const CA_NAMES = ["GRPC_CLIENT_TLS_CACERT", "GRPC_SERVER_TLS_CA_CERT"] as const;
const TLS_NAMES = ["GRPC_SERVER_TLS_CERT", "GRPC_SERVER_TLS_KEY", ...CA_NAMES, "GRPC_CLIENT_TLS_SAN"] as const;

/** Parses the gRPC server's TLS variables; undefined when TLS is off. */
export function parseGrpcTls(env: Env, p: Problems): GrpcTlsSettings | undefined {
  if (!p.bool(env, "GRPC_SERVER_USE_TLS", false)) {
    const set = TLS_NAMES.filter((name) => p.raw(env, name) !== undefined);
    if (set.length > 0) p.add(`${set.join(", ")} set but GRPC_SERVER_USE_TLS is not true (TLS would be off)`);
    return undefined;
  }
  const certFile = readableFile(env, p, "GRPC_SERVER_TLS_CERT", true);
  const keyFile = readableFile(env, p, "GRPC_SERVER_TLS_KEY", true);
  const [ref, eg] = CA_NAMES.map((name) => readableFile(env, p, name, false));
  if (ref !== undefined && eg !== undefined && ref !== eg) {
    p.add(`GRPC_CLIENT_TLS_CACERT and GRPC_SERVER_TLS_CA_CERT name different files (${ref}, ${eg}); set one`);
  }
  const clientCaFile = ref ?? eg;
  const clientSan = p.raw(env, "GRPC_CLIENT_TLS_SAN");
  if (clientSan !== undefined && clientCaFile === undefined) {
    p.add("GRPC_CLIENT_TLS_SAN needs GRPC_CLIENT_TLS_CACERT (client certificates are only requested with a CA)");
  }
  return { certFile: certFile ?? "", keyFile: keyFile ?? "", clientCaFile, clientSan };
}

/** A path variable whose file must be readable now (a bad path is a startup error, not a runtime surprise). */
export function readableFile(env: Env, p: Problems, name: string, required: boolean): string | undefined {
  const path = p.raw(env, name);
  if (path === undefined) {
    if (required) p.add(`${name} must be set`);
    return undefined;
  }
  try {
    accessSync(path, constants.R_OK);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    p.add(`${name}=${JSON.stringify(path)} cannot be read (${typeof code === "string" ? code : String(err)})`);
  }
  return path;
}
