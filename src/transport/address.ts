/** Listen-address formatting shared by the gRPC and HTTP listeners. */

/** `host:port` as a URL authority; IPv6 literals get brackets (`[::]:8081`). */
export function formatHostPort(host: string, port: number): string {
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `${h}:${port}`;
}
