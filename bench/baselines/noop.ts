/** Baseline for start-up: a Deno process that prints one line and exits. */
console.log("noop");
