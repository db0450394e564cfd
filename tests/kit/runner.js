// A runner that starts the real server detached, as a test sees it (issue 9, section 3):
//
//     node tests/kit/runner.js COMMAND [ARG...]
//
// Spawns COMMAND with `detached: true` (its own session and process group, so a stop of the
// runner's group does not reach it), with its output going where ours goes, prints
// "SERVER <pid>", and waits. On SIGTERM it exits at once and leaves the server running.
"use strict";
const { spawn } = require("node:child_process");

const [command, ...args] = process.argv.slice(2);
const server = spawn(command, args, { detached: true, stdio: "inherit" });
server.unref();
console.log(`SERVER ${server.pid}`);
process.on("SIGTERM", () => process.exit(0));
setInterval(() => {}, 1 << 30);
