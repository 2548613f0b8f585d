/**
 * The spackle executable: runs the CLI and exits with the code main() returns.
 *
 * @module
 */
import process from "node:process";
import { main } from "./src/cli/app.ts";

process.exitCode = await main(process.argv.slice(2));
