"""The web UI on the local stack: the production build, served by `vite preview`.

`vite preview` serves frontend/dist and proxies the API paths to the gateway
(frontend/vite.config.ts), so the browser talks to one origin and needs no CORS.
"""

from __future__ import annotations

import urllib.request

from scripts.stack import ROOT, LocalStack, Service, wait_until

FRONTEND = ROOT / "frontend"
DIST = FRONTEND / "dist"
# The binary itself, not `npx vite`: stopping npx would leave its node child serving.
VITE = FRONTEND / "node_modules" / ".bin" / "vite"
DEFAULT_PORT = 5174


def _serves(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (local URL)
        return bool(response.status == 200)


def frontend_built() -> bool:
    """True when `npm run build` has produced the bundle and vite is installed to serve it."""
    return (DIST / "index.html").is_file() and VITE.exists()


def start_frontend(stack: LocalStack, port: int = DEFAULT_PORT) -> Service:
    """Serve the built UI on 127.0.0.1:`port`, proxying the API to `stack`'s gateway."""
    if not frontend_built():
        raise RuntimeError(
            f"the frontend is not built ({DIST / 'index.html'} or {VITE} missing): "
            "run `make frontend-build`"
        )
    argv = [
        str(VITE), "preview", str(FRONTEND),
        "--host", "127.0.0.1", "--port", str(port), "--strictPort",
    ]  # fmt: skip
    service = Service(
        "frontend",
        argv,
        stack.env(IRISQ_API_URL=stack.base_url, NO_COLOR="1"),
        stack.workdir / "logs" / "frontend.log",
    )
    stack.services.append(service)
    service.start()
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: _serves(f"{url}/") or not service.alive(), 30, "vite preview")
    if not service.alive():
        raise RuntimeError(f"vite preview exited:\n{service.output()[-3000:]}")
    return service
