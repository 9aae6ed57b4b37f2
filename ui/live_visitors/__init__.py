"""The "On site now" view: visitors on the website right now, their segments, and Engage."""

from ui.live_visitors.install import LiveVisitorsFeature, install_live_visitors

__all__ = ["LiveVisitorsFeature", "install_live_visitors"]
