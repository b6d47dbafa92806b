"""The ceiling of the server stack: a bare ASGI app under uvicorn (the same loop and HTTP
implementation `mlops serve` uses), answering every request with a constant JSON body of a
given size. No framework, no model, no log: what the server alone can do.

    python ceiling.py PORT BODY_FILE
"""

import sys

import uvicorn


def app_for(body: bytes):
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        more = True
        while more:  # read the request body, as any real endpoint must
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    port, body_file = int(sys.argv[1]), sys.argv[2]
    with open(body_file, "rb") as f:
        app = app_for(f.read())
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="auto",
        http="auto",
        access_log=False,
        log_config=None,
        server_header=False,
    )
