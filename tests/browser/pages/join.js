// Join with a token, publish the (fake) microphone, and show who is in the room.
// The test drives it through window.voicecoreJoin and reads the list's data attributes.
"use strict";

const { DisconnectReason, Room, RoomEvent } = LivekitClient;
let room = null;

function audioState(participant) {
  const publications = [...participant.audioTrackPublications.values()];
  if (participant === room.localParticipant) {
    return publications.some((pub) => pub.track) ? "publishing" : "none";
  }
  if (publications.some((pub) => pub.isSubscribed && pub.track)) return "subscribed";
  return publications.length ? "published" : "none";
}

function render() {
  const list = document.getElementById("participants");
  list.replaceChildren();
  for (const participant of [room.localParticipant, ...room.remoteParticipants.values()]) {
    const item = document.createElement("li");
    const local = participant === room.localParticipant;
    item.dataset.identity = participant.identity;
    item.dataset.kind = participant.isAgent ? "agent" : "standard";
    item.dataset.local = String(local);
    item.dataset.audio = audioState(participant);
    const who = local ? "you" : participant.isAgent ? "agent" : "participant";
    item.textContent = `${participant.identity} (${who}): audio ${item.dataset.audio}`;
    list.append(item);
  }
}

window.voicecoreJoin = async (url, token) => {
  room = new Room();
  for (const event of [
    RoomEvent.ParticipantConnected,
    RoomEvent.ParticipantDisconnected,
    RoomEvent.TrackPublished,
    RoomEvent.TrackSubscribed,
    RoomEvent.TrackUnsubscribed,
    RoomEvent.LocalTrackPublished,
  ]) {
    room.on(event, render);
  }
  room.on(RoomEvent.Disconnected, (reason) => {
    document.getElementById("status").textContent = `disconnected (${DisconnectReason[reason] ?? reason})`;
  });
  // The join response names public STUN servers: on loopback none is needed, and none may be asked.
  await room.connect(url, token, { rtcConfig: { iceServers: [] } });
  await room.localParticipant.setMicrophoneEnabled(true);
  document.getElementById("status").textContent =
    `connected to ${room.name} as ${room.localParticipant.identity}`;
  render();
  return { room: room.name, identity: room.localParticipant.identity };
};

// Bytes received on each remote agent's audio tracks: proof that the browser hears the agent.
window.voicecoreAgentAudioBytes = async () => {
  let total = 0;
  for (const participant of room.remoteParticipants.values()) {
    if (!participant.isAgent) continue;
    for (const pub of participant.audioTrackPublications.values()) {
      const stats = pub.track ? await pub.track.getReceiverStats() : undefined;
      total += stats?.bytesReceived ?? 0;
    }
  }
  return total;
};
