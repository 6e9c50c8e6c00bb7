// edos peers are Node processes that talk BitTorrent over TCP: no WebRTC.
// simple-peer reads RTCPeerConnection from here; leaving it undefined makes
// WebTorrent skip WebRTC peers (and webrtc trackers) instead of loading
// node-datachannel, whose install downloads a prebuilt binary.
export const RTCPeerConnection = undefined
export const RTCSessionDescription = undefined
export const RTCIceCandidate = undefined
export default { RTCPeerConnection, RTCSessionDescription, RTCIceCandidate }
