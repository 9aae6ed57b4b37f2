"""Auto-away from the desktop: platform watchers (screen lock, sleep, idle) feeding agent_app.auto_away."""

from ui.presence_watch.feature import AutoAwayFeature, install_auto_away, platform_watcher

__all__ = ["AutoAwayFeature", "install_auto_away", "platform_watcher"]
