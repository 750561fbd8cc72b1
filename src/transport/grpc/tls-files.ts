/**
 * The gRPC server's TLS material from GRPC_SERVER_TLS_CERT / _KEY and the client CA, and its reload: Kubernetes
 * rotates Secrets by swapping the files (a `..data` symlink flip), so the paths are polled (stat follows the links)
 * and a change of any of them re-reads all three and swaps the server's secure context. New handshakes get the new
 * certificate; open connections and their calls are untouched. A half-written or mismatched pair is logged and the
 * previous context kept (the next change retries), so a rotation can never take the listener down.
 */
import { readFileSync, statSync } from "node:fs";
import { createSecureContext, type SecureContextOptions, type TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { SettingsError } from "../../domain/errors.js";
import type { GrpcTlsSettings } from "../../settings/tls-settings.js";
import type { H2TlsOptions } from "../h2grpc/server.js";

/** How often the files are checked for a change by default. */
const DEFAULT_POLL_MS = 5_000;

export interface TlsFiles {
  readonly options: H2TlsOptions;
  /** Starts polling; `apply` receives each good new context. */
  watch(apply: (context: SecureContextOptions) => void): void;
  /** Stops polling. */
  close(): void;
}

/** Reads and checks the files now; a bad file throws SettingsError (a startup error, exit 2). */
export function loadTlsFiles(settings: GrpcTlsSettings, log: Logger, pollMs = DEFAULT_POLL_MS): TlsFiles {
  const paths = [settings.certFile, settings.keyFile, settings.clientCaFile].filter((p) => p !== undefined);
  let context: SecureContextOptions;
  try {
    context = readContext(settings);
  } catch (err) {
    throw new SettingsError([`GRPC_SERVER_TLS_*: cannot use the TLS files: ${reason(err)}`]);
  }
  let seen = signature(paths);
  let timer: NodeJS.Timeout | undefined;
  const san = settings.clientSan;
  return {
    options: {
      context,
      requireClientCert: settings.clientCaFile !== undefined,
      ...(san === undefined ? {} : { acceptPeer: (socket: TLSSocket) => hasSan(socket, san, log) }),
    },
    watch(apply) {
      timer = setInterval(() => {
        const now = signature(paths);
        if (now === seen) return;
        seen = now;
        try {
          apply(readContext(settings));
          log.info({ files: paths }, "gRPC TLS certificates reloaded");
        } catch (err) {
          log.error(
            { err: new Error(reason(err)), files: paths },
            "gRPC TLS reload failed; keeping the previous certificates",
          );
        }
      }, pollMs);
      timer.unref();
    },
    close() {
      clearInterval(timer);
    },
  };
}

function readContext(settings: GrpcTlsSettings): SecureContextOptions {
  const context: SecureContextOptions = {
    cert: readFileSync(settings.certFile),
    key: readFileSync(settings.keyFile),
    ...(settings.clientCaFile === undefined ? {} : { ca: readFileSync(settings.clientCaFile) }),
  };
  createSecureContext(context); // throws on a bad PEM or a key that does not match the certificate
  return context;
}

/** Size, mtime and inode of every file (following symlinks), so a swapped link or a rewrite both show. */
function signature(paths: readonly string[]): string {
  return paths
    .map((p) => {
      try {
        const s = statSync(p);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return "missing";
      }
    })
    .join("|");
}

/** The reference's GRPC_CLIENT_TLS_SAN check: the verified client certificate names `san` (DNS, URI or IP). */
function hasSan(socket: TLSSocket, san: string, log: Logger): boolean {
  const names = (socket.getPeerCertificate().subjectaltname ?? "").split(",").map((s) => s.trim());
  const ok = names.some((n) => n === `DNS:${san}` || n === `URI:${san}` || n === `IP Address:${san}`);
  if (!ok) log.warn({ required: san, remote: socket.remoteAddress }, "gRPC client certificate lacks the required SAN");
  return ok;
}

/** An error message without key material (node:tls errors name the problem, not the bytes). */
function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
