"""shoal's Python runtime: the loop AWS's Python runtime runs, over the Lambda Runtime API that
shoal serves to this worker (AWS_LAMBDA_RUNTIME_API). Loads `_HANDLER` (`module.function`)
from LAMBDA_TASK_ROOT, then takes invocations one at a time."""

import importlib
import json
import logging
import os
import sys
import time
import traceback
import urllib.request

API = "http://%s/2018-06-01/runtime" % os.environ["AWS_LAMBDA_RUNTIME_API"]


def call(path, body=None, headers=None):
    req = urllib.request.Request(API + path, data=body, method="POST" if body is not None else "GET")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    return urllib.request.urlopen(req, timeout=None)


def error_body(e, request_id, kind=None):
    # the handler's frames, without this loop's own
    tb = traceback.format_list(traceback.extract_tb(e.__traceback__)[1:])
    return json.dumps({
        "errorMessage": str(e),
        "errorType": kind or type(e).__name__,
        "requestId": request_id,
        "stackTrace": tb,
    }).encode()


class Context:
    def __init__(self, request_id, deadline_ms, arn):
        self.aws_request_id = request_id
        self._deadline = deadline_ms
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline - time.time() * 1000))


class RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record):
        record.aws_request_id = RequestIdFilter.request_id
        return True


def install_logging():
    # as on AWS: the root logger already has a handler, so a handler's own basicConfig() is a
    # no-op, and records carry the request id
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S"))
    logging.Formatter.converter = time.gmtime
    handler.addFilter(RequestIdFilter())
    logging.getLogger().addHandler(handler)


def load():
    root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    if root not in sys.path:
        sys.path.insert(0, root)
    name = os.environ["_HANDLER"]
    module, _, function = name.rpartition(".")
    if not module:
        raise LookupError("Runtime.MalformedHandlerName", "Bad handler '%s': not enough values to unpack (expected 2, got 1)" % name)
    try:
        mod = importlib.import_module(module.replace("/", "."))
    except Exception as e:
        raise LookupError("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (module, e))
    fn = getattr(mod, function, None)
    if fn is None:
        raise LookupError("Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (function, module))
    return fn


def main():
    install_logging()
    try:
        handler = load()
    except LookupError as e:
        kind, message = e.args
        print("[ERROR] %s: %s" % (kind, message), flush=True)
        body = json.dumps({"errorMessage": message, "errorType": kind, "requestId": "", "stackTrace": []}).encode()
        call("/init/error", body, {"Lambda-Runtime-Function-Error-Type": kind})
        sys.exit(1)
    while True:
        r = call("/invocation/next")
        rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
        RequestIdFilter.request_id = rid
        ctx = Context(rid, int(r.headers.get("Lambda-Runtime-Deadline-Ms", "0")),
                      r.headers.get("Lambda-Runtime-Invoked-Function-Arn"))
        try:
            event = json.loads(r.read() or b"null")
            result = handler(event, ctx)
            body = json.dumps(result).encode()
        except Exception as e:
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
            call("/invocation/%s/error" % rid, error_body(e, rid),
                 {"Lambda-Runtime-Function-Error-Type": "Unhandled"})
            continue
        sys.stdout.flush()
        call("/invocation/%s/response" % rid, body)


if __name__ == "__main__":
    main()
