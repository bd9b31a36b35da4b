"""The image views: zoom/pan/window widgets, heat-map overlays and the chart painter they share."""
