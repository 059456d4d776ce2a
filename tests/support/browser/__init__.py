"""What every real-browser scenario uses: the private network, chromium, a static site, the runner."""
