import { describe, expect, it } from 'vitest';
import { CODE, EVENTS, Fsm, STATE, STATE_NAMES, TRANSITION_TABLE, type FsmEvent, type FsmHandler, type FsmState, type RequestVerdict } from '../../src/ppp/index.js';

/**
 * RFC 1661 §4.1 state transition table, pasted from the RFC text (an
 * independent transcription from the one in src/ppp/fsm.ts), parsed here.
 */
const RFC_TABLE_LEFT = `
      |    0         1         2         3         4         5
Events| Initial   Starting  Closed    Stopped   Closing   Stopping
------+-----------------------------------------------------------
 Up   |    2     irc,scr/6     -         -         -         -
 Down |    -         -         0       tls/1       0         1
 Open |  tls/1       1     irc,scr/6     3r        5r        5r
 Close|    0       tlf/0       2         2         4         4
  TO+ |    -         -         -         -       str/4     str/5
  TO- |    -         -         -         -       tlf/2     tlf/3
 RCR+ |    -         -       sta/2 irc,scr,sca/8   4         5
 RCR- |    -         -       sta/2 irc,scr,scn/6   4         5
 RCA  |    -         -       sta/2     sta/3       4         5
 RCN  |    -         -       sta/2     sta/3       4         5
 RTR  |    -         -       sta/2     sta/3     sta/4     sta/5
 RTA  |    -         -         2         3       tlf/2     tlf/3
 RUC  |    -         -       scj/2     scj/3     scj/4     scj/5
 RXJ+ |    -         -         2         3         4         5
 RXJ- |    -         -       tlf/2     tlf/3     tlf/2     tlf/3
 RXR  |    -         -         2         3         4         5
`;
const RFC_TABLE_RIGHT = `
      |    6         7         8           9
Events| Req-Sent  Ack-Rcvd  Ack-Sent    Opened
------+-----------------------------------------
 Up   |    -         -         -           -
 Down |    1         1         1         tld/1
 Open |    6         7         8           9r
 Close|irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
  TO+ |  scr/6     scr/6     scr/8         -
  TO- |  tlf/3p    tlf/3p    tlf/3p        -
 RCR+ |  sca/8   sca,tlu/9   sca/8   tld,scr,sca/8
 RCR- |  scn/6     scn/7     scn/6   tld,scr,scn/6
 RCA  |  irc/7     scr/6x  irc,tlu/9   tld,scr/6x
 RCN  |irc,scr/6   scr/6x  irc,scr/8   tld,scr/6x
 RTR  |  sta/6     sta/6     sta/6   tld,zrc,sta/5
 RTA  |    6         6         8       tld,scr/6
 RUC  |  scj/6     scj/7     scj/8       scj/9
 RXJ+ |    6         6         8           9
 RXJ- |  tlf/3     tlf/3     tlf/3   tld,irc,str/5
 RXR  |    6         7         8         ser/9
`;

function parseRfc(): Map<string, string> {
  const cells = new Map<string, string>();
  for (const [text, first] of [
    [RFC_TABLE_LEFT, 0],
    [RFC_TABLE_RIGHT, 6],
  ] as const) {
    for (const line of text.split('\n')) {
      const m = /^\s*(Up|Down|Open|Close|TO\+|TO-|RCR\+|RCR-|RCA|RCN|RTR|RTA|RUC|RXJ\+|RXJ-|RXR)\s*\|(.*)$/.exec(line);
      if (!m) continue;
      const cols = m[2]!.trim().split(/\s+/);
      cols.forEach((c, i) => cells.set(`${m[1]}:${first + i}`, c));
    }
  }
  return cells;
}

const RFC = parseRfc();

interface Recorder {
  calls: string[];
  sent: Array<{ code: number; id: number }>;
  logs: string[];
}

function makeFsm(): { fsm: Fsm; rec: Recorder } {
  const rec: Recorder = { calls: [], sent: [], logs: [] };
  const h: FsmHandler = {
    name: 'TEST',
    protocol: 0xc021,
    buildRequest: () => Buffer.from([1, 4, 5, 0x50]),
    checkRequest: (): RequestVerdict => ({ code: CODE.ConfigureAck, data: Buffer.alloc(0) }),
    nakOrRejectReceived: () => undefined,
    thisLayerUp: () => rec.calls.push('tlu'),
    thisLayerDown: () => rec.calls.push('tld'),
    thisLayerStarted: () => rec.calls.push('tls'),
    thisLayerFinished: () => rec.calls.push('tlf'),
    sendEchoReply: () => rec.calls.push('ser'),
  };
  const fsm = new Fsm(h, { send: (f) => rec.sent.push({ code: f[4]!, id: f[5]! }), log: (e) => rec.logs.push(e.event) }, {});
  return { fsm, rec };
}

const SEND_CODE: Record<string, number> = { scr: 1, sca: 2, str: 5, sta: 6, scj: 7 };

describe('RFC 1661 §4.1 automaton, every (state, event) cell', () => {
  it('the RFC table was parsed completely (16 events × 10 states) and src/ppp/fsm.ts holds the same cells', () => {
    expect(RFC.size).toBe(160);
    for (const ev of EVENTS) for (let s = 0; s <= 9; s++) expect(`${ev}:${s}=${TRANSITION_TABLE[ev][s]}`).toBe(`${ev}:${s}=${RFC.get(`${ev}:${s}`)}`);
  });

  for (const ev of EVENTS) {
    for (let s = 0; s <= 9; s++) {
      const cell = RFC.get(`${ev}:${s}`)!;
      it(`${STATE_NAMES[s]} + ${ev} → ${cell}`, () => {
        const { fsm, rec } = makeFsm();
        fsm.forceState(s as FsmState, 0);
        const verdict: RequestVerdict = ev === 'RCR-' ? { code: CODE.ConfigureNak, data: Buffer.from([1, 4, 5, 0xdc]) } : { code: CODE.ConfigureAck, data: Buffer.alloc(0) };
        fsm.dispatch(ev as FsmEvent, { id: 42, data: Buffer.alloc(0), verdict, raw: Buffer.from([99, 42, 0, 4]) });
        if (cell === '-') {
          expect(fsm.state).toBe(s);
          expect(rec.sent).toEqual([]);
          expect(rec.calls).toEqual([]);
          expect(rec.logs).toContain('ppp.fsm.illegal-event');
          return;
        }
        const m = /^(?:([a-z,]+)\/)?([0-9])[rpx]?$/.exec(cell)!;
        const actions = m[1] ? m[1].split(',') : [];
        expect(fsm.state).toBe(Number(m[2]));
        // Layer callbacks in table order.
        expect(rec.calls).toEqual(actions.filter((a) => ['tlu', 'tld', 'tls', 'tlf', 'ser'].includes(a)));
        // Packets sent in table order, with their codes.
        const expectedCodes = actions
          .filter((a) => a in SEND_CODE || a === 'scn')
          .map((a) => (a === 'scn' ? CODE.ConfigureNak : SEND_CODE[a]!));
        expect(rec.sent.map((p) => p.code)).toEqual(expectedCodes);
        // Replies carry the received identifier.
        for (const [i, a] of actions.filter((x) => x in SEND_CODE || x === 'scn').entries()) {
          if (a === 'sca' || a === 'scn' || a === 'sta') expect(rec.sent[i]!.id).toBe(42);
        }
        // Restart counter: irc sets Max-Terminate (2) before str, else Max-Configure (10); scr/str decrement; zrc zeroes.
        if (actions.includes('irc')) {
          const base = actions.includes('str') ? 2 : 10;
          const dec = actions.filter((a) => a === 'scr' || a === 'str').length;
          expect(fsm.restartCounter).toBe(base - dec);
        }
        if (actions.includes('zrc')) expect(fsm.restartCounter).toBe(0);
        // The restart timer runs exactly in Closing, Stopping, Req-Sent, Ack-Rcvd, Ack-Sent.
        const next = Number(m[2]);
        if (next < STATE.Closing || next > STATE.AckSent) expect(fsm.nextDeadline()).toBeUndefined();
        if (actions.includes('scr') || actions.includes('str') || actions.includes('zrc')) expect(fsm.nextDeadline()).toBe(3000);
      });
    }
  }
});

describe('automaton behaviour around the table', () => {
  it('timeouts: Max-Configure Configure-Requests, then TO- → tlf/Stopped', () => {
    const { fsm, rec } = makeFsm();
    fsm.open(0);
    fsm.up(0);
    let now = 0;
    for (let i = 0; i < 20; i++) {
      const d = fsm.nextDeadline();
      if (d === undefined) break;
      now = d;
      fsm.tick(now);
    }
    expect(rec.sent.filter((p) => p.code === 1)).toHaveLength(10);
    expect(rec.calls).toEqual(['tls', 'tlf']);
    expect(fsm.state).toBe(STATE.Stopped);
  });

  it('Terminate: Max-Terminate Terminate-Requests, then tlf/Closed', () => {
    const { fsm, rec } = makeFsm();
    fsm.forceState(STATE.Opened);
    fsm.close('bye', 0);
    for (let i = 0; i < 5; i++) {
      const d = fsm.nextDeadline();
      if (d === undefined) break;
      fsm.tick(d);
    }
    expect(rec.sent.filter((p) => p.code === 5)).toHaveLength(2);
    expect(rec.calls).toEqual(['tld', 'tlf']);
    expect(fsm.state).toBe(STATE.Closed);
  });

  it('Configure-Ack with a wrong identifier or different options is discarded', () => {
    const { fsm, rec } = makeFsm();
    fsm.open(0);
    fsm.up(0);
    const id = rec.sent[0]!.id;
    fsm.receive(CODE.ConfigureAck, (id + 1) & 255, Buffer.from([1, 4, 5, 0x50]), Buffer.alloc(0), 0);
    expect(fsm.state).toBe(STATE.ReqSent);
    fsm.receive(CODE.ConfigureAck, id, Buffer.from([1, 4, 5, 0x51]), Buffer.alloc(0), 0);
    expect(fsm.state).toBe(STATE.ReqSent);
    fsm.receive(CODE.ConfigureAck, id, Buffer.from([1, 4, 5, 0x50]), Buffer.alloc(0), 0);
    expect(fsm.state).toBe(STATE.AckRcvd);
  });

  it('Code-Reject of a needed code is RXJ-, of Echo is RXJ+', () => {
    const a = makeFsm();
    a.fsm.forceState(STATE.Opened);
    a.fsm.receive(CODE.CodeReject, 1, Buffer.from([9, 1, 0, 4]), Buffer.alloc(0), 0);
    expect(a.fsm.state).toBe(STATE.Opened);
    a.fsm.receive(CODE.CodeReject, 2, Buffer.from([1, 1, 0, 4]), Buffer.alloc(0), 0);
    expect(a.fsm.state).toBe(STATE.Stopping);
  });
});
