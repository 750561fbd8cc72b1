/**
 * A real nginx (Debian's `nginx`, which has the auth_request module; scripts/test.sh installs it) started in the
 * foreground as one process on a free loopback port, with every path it writes in a temporary directory.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Nginx {
  /** The error log so far (for failure messages). */
  errorLog(): Promise<string>;
  close(): Promise<void>;
}

/** The nginx binary: NGINX_BIN, else `nginx` on PATH or in /usr/sbin. */
export function nginxBinary(): string {
  const fromEnv = process.env["NGINX_BIN"];
  if (fromEnv) return fromEnv;
  for (const candidate of ["nginx", "/usr/sbin/nginx"]) {
    try {
      execFileSync(candidate, ["-v"], { stdio: "ignore" });
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error("nginx is not installed: run `npm test` (installs it) or `apt-get install -y nginx`");
}

/**
 * Starts nginx with `httpBlock` inside its http {} block (as a conf.d file would be) and waits until `port`
 * accepts connections. Rejects with nginx's own message when the configuration is invalid.
 */
export async function startNginx(httpBlock: string, port: number): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), "sluice-nginx-"));
  const conf = join(dir, "nginx.conf");
  const temp = (name: string): string => `${name}_temp_path ${join(dir, name)};`;
  await writeFile(
    conf,
    [
      "daemon off;",
      "master_process off;",
      `pid ${join(dir, "nginx.pid")};`,
      `error_log ${join(dir, "error.log")} warn;`,
      "events { worker_connections 256; }",
      "http {",
      "  access_log off;",
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((n) => `  ${temp(n)}`),
      httpBlock,
      "}",
      "",
    ].join("\n"),
  );
  const binary = nginxBinary();
  execFileSync(binary, ["-t", "-q", "-p", dir, "-c", conf], { stdio: "pipe" });
  const child: ChildProcess = spawn(binary, ["-p", dir, "-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString("utf8");
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const errorLog = async (): Promise<string> =>
    `${stderr}${await readFile(join(dir, "error.log"), "utf8").catch(() => "")}`;
  const until = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > until) {
      child.kill("SIGKILL");
      throw new Error(`nginx did not start on port ${port}:\n${await errorLog()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    errorLog,
    async close() {
      if (child.exitCode === null) child.kill("SIGQUIT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
