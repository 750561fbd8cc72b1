#!/usr/bin/env node
/**
 * The `sluice` command: `check` (validate a rule directory), `ask` (one ShouldRateLimit from a shell) and `serve`
 * (the server, as `npm start`). Arguments are parsed by commander; every error is one line on stderr and exit 2
 * (`ask` keeps 1 for "limited").
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { SettingsError } from "../domain/errors.js";
import { loadSettings } from "../settings/settings.js";
import { EXIT_ERROR, runAsk, SluiceArgumentError } from "./ask.js";
import { runCheck } from "./check.js";
import { packageVersion } from "./version.js";

const out = (text: string): void => void process.stdout.write(text);
const err = (text: string): void => void process.stderr.write(text);

function integer(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected an integer >= ${min}`);
    }
    return n;
  };
}

function buildProgram(): Command {
  const version = packageVersion();
  const program = new Command("sluice")
    .description("Sluice: rate-limit decision service (Envoy RLS v3), its rule checker and a one-shot client")
    .version(version)
    .exitOverride()
    .showSuggestionAfterError()
    .configureOutput({ writeOut: out, writeErr: err });

  program
    .command("check")
    .description(
      "validate a rule directory as the server loads it; print the /rlconfig dump (exit 0) or every error (exit 1)",
    )
    .argument("[dir]", "rules directory (default: $RUNTIME_ROOT/$RUNTIME_SUBDIRECTORY/$RUNTIME_APPDIRECTORY)")
    .version(version)
    .action(async (dir: string | undefined) => {
      process.exitCode = await runCheck(dir, loadSettings().runtime, { out, err });
    });

  program
    .command("ask")
    .description("send one ShouldRateLimit; exit 0 allowed, 1 limited, 2 error")
    .requiredOption("-d, --domain <domain>", "the rules' domain")
    .addOption(
      new Option("-D, --descriptor <k=v,...>", "one descriptor, entries in order (repeat for more)")
        .argParser((value: string, prev: string[] | undefined) => [...(prev ?? []), value])
        .makeOptionMandatory(),
    )
    .option("--hits <n>", "hits to add to each descriptor (0 checks without counting; default 1)", integer(0))
    .option("-a, --address <host:port>", "Sluice's gRPC address", "127.0.0.1:8081")
    .option("-t, --timeout <ms>", "deadline of the call", integer(1), 2000)
    .option("--json", "print the decision as JSON")
    .version(version)
    .action(async (opts: Parameters<typeof runAsk>[0]) => {
      process.exitCode = await runAsk(opts, out);
    });

  program
    .command("serve")
    .description("run the server (the same as `npm start`; configured by the environment, see the README)")
    .version(version)
    .action(async () => {
      await import("../main.js");
    });
  return program;
}

async function run(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version end with code 0; commander already printed its one-line error otherwise.
      process.exitCode = e.exitCode === 0 ? 0 : EXIT_ERROR;
      return;
    }
    if (e instanceof SluiceArgumentError || e instanceof SettingsError) {
      err(`sluice: ${e.message.replaceAll("\n", " ")}\n`);
      process.exitCode = e instanceof SettingsError ? 1 : EXIT_ERROR;
      return;
    }
    throw e;
  }
}

await run(process.argv);
