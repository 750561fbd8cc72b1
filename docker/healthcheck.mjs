// The image's HEALTHCHECK (the slim base has no curl or wget): GET /healthcheck on Sluice's HTTP port, as Envoy
// Gateway's probes do. Exit 0 when it answers 200 within 2 s, else 1. Reads the same HOST and PORT as Sluice; a
// wildcard HOST (0.0.0.0, ::, unset) is asked on 127.0.0.1.
import { get } from "node:http";

const host = ["", "0.0.0.0", "::", undefined].includes(process.env.HOST) ? "127.0.0.1" : process.env.HOST;
const port = Number(process.env.PORT || 8080);
const req = get({ host, port, path: "/healthcheck", timeout: 2000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on("timeout", () => req.destroy(new Error("timeout")));
req.on("error", () => process.exit(1));
