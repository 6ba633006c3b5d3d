"""The media pipeline's processors, one job each; `realtime.session` lists them in order."""
