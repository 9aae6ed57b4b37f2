# Two commands do everything on a fresh machine: `make run` (demo workspace) and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# Python >= 3.12 (see pyproject.toml for why): the first one found wins.
PYTHON ?= $(shell for p in python3.13 python3.12 $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v $$p; break; }; done)
# Debian packages: Qt's xcb platform, a virtual X server and D-Bus for tray/notification tests,
# the Secret Service keychain, and Chromium for the visitor widget's browser test. The journey tests
# (tests/journeys) also start a real notification daemon (dunst), an XEmbed tray (trayer), an unlocked
# gnome-keyring, dbus-monitor (dbus-bin) and the x11-utils probes.
# postgresql: the server tests run on SQLite and on PostgreSQL, in a throwaway cluster they start themselves
# (tests/pg.py: initdb/pg_ctl as the package's "postgres" user, Unix socket in a temp dir).
DEB_PACKAGES := xvfb xauth dbus dbus-x11 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 \
	libxcb-shape0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libxcb-xkb1 libegl1 libgl1 libfontconfig1 \
	libdbus-1-3 fonts-dejavu-core chromium chromium-driver \
	dbus-bin dunst trayer gnome-keyring libsecret-tools x11-utils \
	postgresql \
	desktop-file-utils appstream xdg-utils nginx systemd \
	xdotool \
	redis-server
# redis-server: only bench/redis_pubsub.py (the doorbell alternative measured against PostgreSQL NOTIFY).
# desktop-file-utils, appstream: tests/packaging validates the .desktop/AppStream files; xdg-utils: the deep
# link test goes through xdg-open; nginx, systemd (systemd-analyze): tests/deploy runs the server behind a
# real nginx (its own config, as the current user) and verifies the systemd unit. `deps` stops and disables
# the nginx service the package starts (the tests never need the default site; port 80 stays free).

# xdotool: `make package-test` finds the bundle's windows by title and types into its sign-in dialog.

.PHONY: run test journeys check lint typecheck deps venv bench faults clean lock package package-test

# Installed from the locked set (constraints.txt, `make lock`): a fresh clone gets the versions CI passed.
$(VENV)/.installed: pyproject.toml constraints.txt
	@test -n "$(PYTHON)" || { echo "Python >= 3.12 is required (none found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

venv: $(VENV)/.installed

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $$missing >/dev/null; \
		if echo " "$$missing" " | grep -q " nginx " && [ -d /run/systemd/system ]; then \
			$$SUDO systemctl disable --now nginx >/dev/null 2>&1 || true; \
		fi; \
	fi

run: deps venv
	$(PY) main.py --demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

check: lint typecheck

# The journeys run in their own process: Qt picks its platform once per process, and they need a real X
# server (they start their own Xvfb, D-Bus, dunst, trayer and keychain; see tests/journeys/desktop.py).
test: deps venv check
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest --ignore=tests/journeys --ignore=tests/package
	$(VENV)/bin/pytest tests/journeys
	@# The installable bundle too (about 2 minutes: its venv, PyInstaller, the clean-machine test).
	$(MAKE) --no-print-directory package-test

journeys: deps venv
	$(VENV)/bin/pytest tests/journeys

bench: venv
	$(PY) bench/server_throughput.py

# The fault harness at full size (more inputs, connections and floods than in `make test`); each check prints
# what it held as "[faults] ..." lines (figures in docs/reliability.md).
faults: venv
	FAULTS_FULL=1 QT_QPA_PLATFORM=offscreen $(VENV)/bin/pytest tests/faults tests/server/test_hardening.py \
		tests/server/test_durability.py -s -p no:cacheprovider -q

# constraints.txt from pyproject.toml (uv, every OS); `UPGRADE=1 make lock` moves to the newest allowed.
lock:
	@test -n "$(PYTHON)" || { echo "Python >= 3.12 is required (none found)"; exit 1; }
	packaging/lock.sh $(PYTHON)

# The desktop client for people without Python: dist/sdr-agent-desk/ (PyInstaller onedir) and
# dist/sdr-agent-desk-<version>-linux-<arch>.tar.gz with install.sh (packaging/build.sh; own venv in build/).
package:
	@test -n "$(PYTHON)" || { echo "Python >= 3.12 is required (none found)"; exit 1; }
	packaging/build.sh $(PYTHON)

# The tarball installed for a fresh user and started with `env -i` (no Python on PATH) on a real desktop:
# sign-in window, sign in to a real chat server, the queue, the keychain (tests/package).
package-test: deps venv package
	$(VENV)/bin/pytest tests/package -p no:cacheprovider

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build/package build/lock dist
