// shoal's Node.js runtime: the loop AWS's Node runtime runs, over the Lambda Runtime API that
// shoal serves to this worker. Loads `_HANDLER` (`module.function`) from LAMBDA_TASK_ROOT as
// ES module or CommonJS; handlers may be async or take a callback.
import { pathToFileURL } from "node:url";
import { existsSync } from "node:fs";
import { join } from "node:path";

const API = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;

async function post(path, body, headers = {}) {
  await fetch(API + path, { method: "POST", body, headers });
}

function errorBody(e, type) {
  return JSON.stringify({
    errorType: type || (e && e.name) || "Error",
    errorMessage: (e && e.message) || String(e),
    trace: e && e.stack ? String(e.stack).split("\n") : [],
  });
}

async function load() {
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const name = process.env._HANDLER || "";
  const dot = name.lastIndexOf(".");
  if (dot < 0) throw { type: "Runtime.MalformedHandlerName", message: `Bad handler ${name}` };
  const module = name.slice(0, dot), fn = name.slice(dot + 1);
  const file = [".mjs", ".js", ".cjs"].map((x) => join(root, module + x)).find(existsSync);
  if (!file) throw { type: "Runtime.ImportModuleError", message: `Error: Cannot find module '${module}'` };
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    throw { type: "Runtime.ImportModuleError", message: String(e) };
  }
  const h = mod[fn] || (mod.default && mod.default[fn]);
  if (typeof h !== "function") throw { type: "Runtime.HandlerNotFound", message: `${name} is undefined or not exported` };
  return h;
}

let handler;
try {
  handler = await load();
} catch (e) {
  console.error(`${e.type}: ${e.message}`);
  await post("/init/error", JSON.stringify({ errorType: e.type, errorMessage: e.message, trace: [] }),
    { "Lambda-Runtime-Function-Error-Type": e.type });
  process.exit(1);
}

for (;;) {
  const r = await fetch(API + "/invocation/next");
  const id = r.headers.get("lambda-runtime-aws-request-id");
  const deadline = Number(r.headers.get("lambda-runtime-deadline-ms") || 0);
  const text = await r.text();
  const context = {
    awsRequestId: id,
    invokedFunctionArn: r.headers.get("lambda-runtime-invoked-function-arn"),
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    callbackWaitsForEmptyEventLoop: true,
  };
  try {
    const event = text ? JSON.parse(text) : null;
    const result = await new Promise((resolve, reject) => {
      const out = handler(event, context, (err, value) => (err ? reject(err) : resolve(value)));
      if (out && typeof out.then === "function") out.then(resolve, reject);
    });
    await post(`/invocation/${id}/response`, JSON.stringify(result === undefined ? null : result));
  } catch (e) {
    console.error(e && e.stack ? e.stack : String(e));
    await post(`/invocation/${id}/error`, errorBody(e), { "Lambda-Runtime-Function-Error-Type": "Unhandled" });
  }
}
