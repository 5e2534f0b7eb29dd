"""A fast webhook receiver for bench/webhooks.py: asyncio, HTTP/1.1 keep-alive, checks every
body's X-FlipTech-Signature against SECRET, answers 200. `GET /stats` → `{"ok", "bad"}`.

    SECRET=… python bench/_webhook_receiver.py <port>
"""

import asyncio
import hashlib
import hmac
import json
import os
import sys

SECRET = os.environ["SECRET"].encode()
stats = {"ok": 0, "bad": 0}


class Receiver(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            body, self.buffer = self.buffer[end + 4 : end + 4 + length], self.buffer[end + 4 + length :]
            if lines[0].startswith("GET /stats"):
                answer = json.dumps(stats).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
                continue
            expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
            stats["ok" if hmac.compare_digest(expected, headers.get("x-fliptech-signature", "")) else "bad"] += 1
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


async def main(port):
    server = await asyncio.get_running_loop().create_server(Receiver, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
