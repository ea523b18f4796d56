"""moto_server with its state kept on disk, as `sa dev` runs it (internal/devstack/persist.go).

Usage: python3 motoserver.py HOST PORT STATE_FILE SAVE_EVERY_SECONDS

It serves moto's whole API as moto_server does, after loading STATE_FILE when it exists.
It saves the state of every loaded moto backend (users, tables, items, buckets, objects,
queues, mail...) to STATE_FILE on SIGTERM or SIGINT, and every SAVE_EVERY_SECONDS while
requests change it, so a moto that crashes loses at most that much. A save is written
to a temporary file and renamed over the old one: the file on disk is always whole.
A state file it cannot read (another moto version, a damaged file) stops it with
exit status 3 and the file left as it is.
"""

import logging
import os
import pickle
import signal
import sys
import threading
import time

import moto
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.core.base_backend import BackendDict
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

FORMAT = 1
_RLOCK = type(threading.RLock())
_LOCK = type(threading.Lock())


def _load_key(pem):
    return serialization.load_pem_private_key(pem, password=None)


class _Pickler(pickle.Pickler):
    """Pickles what moto's backends hold that pickle alone cannot: RSA keys, locks."""

    def reducer_override(self, obj):
        if isinstance(obj, rsa.RSAPrivateKey):
            pem = obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            return _load_key, (pem,)
        if isinstance(obj, _RLOCK):
            return threading.RLock, ()
        if isinstance(obj, _LOCK):
            return threading.Lock, ()
        return NotImplemented


def _backends():
    """Every moto backend loaded so far, by module and attribute name."""
    found = {}
    for name, mod in list(sys.modules.items()):
        if not name.startswith("moto.") or mod is None:
            continue
        for attr, value in list(vars(mod).items()):
            if attr.endswith("_backends") and isinstance(value, BackendDict):
                found[(name, attr)] = value
    return found


def save(path):
    data = {(m, a): dict(bd) for (m, a), bd in _backends().items() if len(bd)}
    tmp = path + ".tmp"
    for attempt in range(5):
        try:
            with open(tmp, "wb") as f:
                _Pickler(f, protocol=pickle.HIGHEST_PROTOCOL).dump({"format": FORMAT, "moto": moto.__version__, "backends": data})
            os.replace(tmp, path)
            return True
        except RuntimeError:
            # A request changed a backend while it was being written: try again.
            time.sleep(0.05)
        except Exception as e:  # noqa: BLE001 - say what failed, keep the old file
            print(f"sa: could not save moto's state to {path}: {e!r}; the previous save is kept", file=sys.stderr, flush=True)
            return False
    print(f"sa: could not save moto's state to {path}: it kept changing; the previous save is kept", file=sys.stderr, flush=True)
    return False


def load(path):
    if not os.path.exists(path):
        print(f"sa: no saved state at {path}: moto starts empty", file=sys.stderr, flush=True)
        return
    try:
        with open(path, "rb") as f:
            state = pickle.load(f)
        if state.get("format") != FORMAT or state.get("moto") != moto.__version__:
            raise ValueError(f"saved by moto {state.get('moto')} (format {state.get('format')}), this is moto {moto.__version__}")
        import importlib
        for (modname, attr), accounts in state["backends"].items():
            bd = getattr(importlib.import_module(modname), attr)
            for account, regions in accounts.items():
                bd[account] = regions
    except Exception as e:  # noqa: BLE001
        print(f"sa: cannot load moto's saved state {path}: {e!r}. "
              f"Start empty with `sa dev --fresh` (it moves the file aside to {path}.old).", file=sys.stderr, flush=True)
        sys.exit(3)
    print(f"sa: moto's state loaded from {path}", file=sys.stderr, flush=True)


class _Counting:
    """WSGI middleware counting the requests that may have changed state."""

    def __init__(self, app):
        self.app = app
        self.changes = 0

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "GET":
            self.changes += 1
        return self.app(environ, start_response)


def main():
    host, port, path, every = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    load(path)
    app = _Counting(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True)
    stop = threading.Event()

    def on_signal(*_):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"sa: moto {moto.__version__} serving on http://{host}:{port}, state kept in {path}", file=sys.stderr, flush=True)
    saved = app.changes
    while not stop.wait(every):
        if app.changes != saved:
            saved = app.changes
            save(path)
    server.shutdown()
    if save(path):
        print(f"sa: moto's state saved to {path}", file=sys.stderr, flush=True)
        sys.exit(0)
    sys.exit(4)


if __name__ == "__main__":
    main()
