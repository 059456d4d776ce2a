// Installed into every document of the demo page before its own scripts run (Playwright's
// add_init_script, which the page's Content-Security-Policy does not govern). It only watches:
// - every CSP violation goes to the test through the exposed binding reportCspViolation;
// - every RTCPeerConnection the page makes is kept, so the test can read what arrives
//   (window.voicecoreProbe.inboundAudio) and what the page plays (audioElements).
(() => {
  document.addEventListener('securitypolicyviolation', (event) => {
    window.reportCspViolation({
      directive: event.effectiveDirective,
      blocked: event.blockedURI,
      source: event.sourceFile,
      line: event.lineNumber,
      page: location.pathname,
    });
  });

  const Native = window.RTCPeerConnection;
  const connections = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      connections.push(this);
    }
  };

  window.voicecoreProbe = {
    // Every inbound audio stream of every open connection, as getStats reports it.
    async inboundAudio() {
      const found = [];
      for (const connection of connections) {
        if (connection.connectionState === 'closed') continue;
        const report = await connection.getStats();
        report.forEach((stats) => {
          if (stats.type !== 'inbound-rtp' || stats.kind !== 'audio') return;
          found.push({
            trackIdentifier: stats.trackIdentifier,
            audioLevel: stats.audioLevel ?? 0,
            totalAudioEnergy: stats.totalAudioEnergy ?? 0,
            totalSamplesDuration: stats.totalSamplesDuration ?? 0,
            packetsReceived: stats.packetsReceived ?? 0,
          });
        });
      }
      return found;
    },
    // Every <audio> element on the page, and the tracks it plays.
    audioElements() {
      return [...document.querySelectorAll('audio')].map((element) => ({
        participant: element.dataset.participant ?? null,
        paused: element.paused,
        muted: element.muted,
        volume: element.volume,
        tracks: element.srcObject ? element.srcObject.getAudioTracks().map((track) => track.id) : [],
      }));
    },
  };
})();
