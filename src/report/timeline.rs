//! The timeline: every op of the history per process, shown a window at a time.
//!
//! Drawing a million bars at once would freeze a browser and show nothing, so the page
//! embeds the ops compactly and a small inline script draws the window a person picks (a
//! start slider, a width, previous/next, or a click on the overview), at most [`MAX_DRAWN`]
//! bars at a time. Above the window, an overview raster bins every op of the run into one
//! column per pixel, so the whole run is visible at any length. Each op is
//! encoded as four numbers, LEB128 varints, then base64:
//!
//! | field | meaning |
//! |---|---|
//! | lane | index of the op's process in `processes` |
//! | start | invocation, as a delta from the previous op's invocation (ops are in invocation order) |
//! | length | completion minus invocation (0 for an op still open at the end) |
//! | code | outcome in the low 2 bits (0 ok, 1 fail, 2 info, 3 open), `f` index above |
//!
//! Units are microseconds since the first invocation when the history has times, otherwise
//! positions of events in the history. That is about 7 bytes per op before base64, 10 after.
//! Up to [`DETAIL_LIMIT`] ops also carry a short text (key, value, error) for the hover
//! tooltip; above it the tooltip shows the op number, whose line is in `history.jsonl`.
//! Fault windows are drawn behind the lanes. `report.html#op=N` opens the window on op N,
//! outlined; the failure diagram's button does the same. Text reaches the page through JSON escaped for a
//! script block and is set with `textContent`, never parsed as markup.

use std::fmt::Write as _;

use base64::Engine as _;
use faultline_checkers::{History, Op, Outcome};
use serde::Serialize;

use super::escape::{json_in_script, truncate};
use super::stats::{fault_windows, value_text};

/// The most bars the script draws in one window.
pub const MAX_DRAWN: usize = 4000;
/// Histories up to this many ops carry per-op tooltip text.
pub const DETAIL_LIMIT: usize = 100_000;
/// More distinct `f`s than this share the last code.
const MAX_FS: usize = 63;

#[derive(Serialize)]
struct Meta {
    n: usize,
    unit: &'static str,
    processes: Vec<u64>,
    fs: Vec<String>,
    end: u64,
    windows: Vec<(u64, u64, String)>,
    details: Option<Vec<String>>,
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Encodes the ops; returns the metadata and the base64 data.
/// The timeline's x units: microseconds since the first invocation when every op has times,
/// else positions of events in the history.
#[derive(Clone, Copy, Debug)]
pub struct Units {
    timed: bool,
    t0: u64,
}

impl Units {
    pub fn of(history: &History) -> Units {
        let timed = history.ops.iter().all(|o| {
            o.invoke_time.is_some() && (o.complete_pos.is_none() || o.complete_time.is_some())
        });
        let t0 = history
            .ops
            .iter()
            .filter_map(|o| o.invoke_time)
            .min()
            .unwrap_or(0);
        Units { timed, t0 }
    }

    fn micros(self, ns: u64) -> u64 {
        ns.saturating_sub(self.t0) / 1000
    }

    /// Where an op's invocation is on the timeline.
    pub fn start(self, o: &Op) -> u64 {
        if self.timed {
            self.micros(o.invoke_time.unwrap_or(self.t0))
        } else {
            o.invoke_pos as u64
        }
    }

    fn end(self, o: &Op) -> Option<u64> {
        let pos = o.complete_pos?;
        Some(if self.timed {
            self.micros(o.complete_time.unwrap_or(self.t0))
        } else {
            pos as u64
        })
    }
}

/// A button that moves the timeline to an op and outlines it there.
pub fn jump_button(out: &mut String, units: Units, op: &Op) {
    let _ = write!(
        out,
        "<button type=\"button\" class=\"tl-jump\" data-op=\"{}\" data-at=\"{}\">show op {} in the timeline</button>",
        op.id,
        units.start(op),
        op.id
    );
}

fn encode(history: &History) -> (Meta, String) {
    let units = Units::of(history);
    let timed = units.timed;
    let micros = |ns: u64| units.micros(ns);
    let start = |o: &Op| units.start(o);
    let end_of = |o: &Op| units.end(o);
    let mut processes: Vec<u64> = history.ops.iter().map(|o| o.process).collect();
    processes.sort_unstable();
    processes.dedup();
    let mut fs: Vec<String> = Vec::new();
    let mut bytes = Vec::with_capacity(history.ops.len() * 8);
    let mut previous = 0u64;
    let mut end = 0u64;
    for op in &history.ops {
        let lane = processes.binary_search(&op.process).unwrap_or(0);
        let s = start(op).max(previous);
        let f = match fs.iter().position(|f| *f == op.f) {
            Some(i) => i,
            None if fs.len() < MAX_FS => {
                fs.push(op.f.clone());
                fs.len() - 1
            }
            None => MAX_FS,
        };
        let (length, outcome) = match end_of(op) {
            Some(e) => (
                e.saturating_sub(s),
                match op.outcome {
                    Outcome::Ok => 0,
                    Outcome::Fail => 1,
                    Outcome::Info => 2,
                },
            ),
            None => (0, 3),
        };
        end = end.max(s + length);
        push_varint(&mut bytes, lane as u64);
        push_varint(&mut bytes, s - previous);
        push_varint(&mut bytes, length);
        bytes.push((outcome | (f << 2)) as u8);
        previous = s;
    }
    if !timed {
        end = end.max(history.event_count as u64);
    }
    let windows = fault_windows(history, &[])
        .into_iter()
        .map(|w| {
            let (a, b) = if timed {
                (w.start_ns.map_or(0, micros), w.end_ns.map_or(end, micros))
            } else {
                (w.start_pos as u64, w.end_pos as u64)
            };
            (a, b.max(a), w.label)
        })
        .collect();
    let details =
        (history.ops.len() <= DETAIL_LIMIT).then(|| history.ops.iter().map(detail).collect());
    let meta = Meta {
        n: history.ops.len(),
        unit: if timed { "us" } else { "event" },
        processes,
        fs,
        end,
        windows,
        details,
    };
    (
        meta,
        base64::engine::general_purpose::STANDARD.encode(bytes),
    )
}

/// The tooltip text of one op: key, value, error, node, each cut short.
fn detail(o: &Op) -> String {
    let mut d = String::new();
    if let Some(k) = &o.key {
        let _ = write!(d, "key {} · ", truncate(k, 40));
    }
    d.push_str(&truncate(&super::diagrams::op_text(o), 80));
    if let Some(e) = &o.error {
        let _ = write!(d, " · error {}", truncate(&value_text(e), 60));
    }
    if let Some(n) = &o.node {
        let _ = write!(d, " · node {}", truncate(n, 20));
    }
    d
}

/// Appends the timeline section: controls, an empty view, the data and the script.
pub fn section(out: &mut String, history: &History) {
    if history.ops.is_empty() {
        out.push_str("<p class=\"muted\">The history has no client operations.</p>");
        return;
    }
    let (meta, data) = encode(history);
    let _ = write!(
        out,
        "<p class=\"muted\">{} ops over {} processes. Bars run from invocation to completion: \
         <span class=\"ok\">ok</span>, <span class=\"fail\">fail</span>, <span class=\"info\">info</span>; \
         hatched bars never completed. Hover a bar for the op. Shaded bands are fault windows.</p>\
         <div id=\"timeline-controls\"><button type=\"button\" id=\"tl-prev\">◀ earlier</button>\
         <input type=\"range\" id=\"tl-start\" min=\"0\" max=\"1000\" value=\"0\" aria-label=\"window start\">\
         <button type=\"button\" id=\"tl-next\">later ▶</button>\
         <label>window <select id=\"tl-width\"></select></label><span id=\"tl-info\" class=\"muted\"></span></div>\
         <canvas id=\"tl-overview\" height=\"40\" title=\"every op of the run, binned: click to move the window there\"></canvas>\
         <div id=\"timeline-view\"><noscript>The timeline needs JavaScript; every op is in history.jsonl.</noscript></div>\n\
         <script type=\"application/json\" id=\"tl-meta\">{}</script>\n\
         <script type=\"text/plain\" id=\"tl-data\">{data}</script>\n<script>{SCRIPT}</script>\n",
        meta.n,
        meta.processes.len(),
        json_in_script(&meta)
    );
}

/// Decodes the ops and draws the chosen window with SVG DOM calls (no markup parsing).
const SCRIPT: &str = r##"
(function(){
"use strict";
var meta=JSON.parse(document.getElementById("tl-meta").textContent);
var raw=atob(document.getElementById("tl-data").textContent.trim());
var n=meta.n,lane=new Uint32Array(n),st=new Float64Array(n),len=new Float64Array(n),code=new Uint8Array(n);
var p=0,t=0;
function varint(){var x=0,m=1,b;do{b=raw.charCodeAt(p++);x+=(b&127)*m;m*=128;}while(b&128);return x;}
for(var i=0;i<n;i++){lane[i]=varint();t+=varint();st[i]=t;len[i]=varint();code[i]=raw.charCodeAt(p++);}
var end=Math.max(meta.end,1),unit=meta.unit;
var NS="http://www.w3.org/2000/svg",MAX=4000;
var colors=["#2563b5","#c82828","#de8a00","#de8a00"],fills=["#d6e4f7","#eeeeee","#fbe3b8","#fff4dd"];
var view=document.getElementById("timeline-view"),slider=document.getElementById("tl-start");
var widthSel=document.getElementById("tl-width"),info=document.getElementById("tl-info");
function fmt(v){if(unit!=="us")return "event "+Math.round(v);if(v>=1e6)return (v/1e6).toFixed(3)+" s";if(v>=1e3)return (v/1e3).toFixed(2)+" ms";return Math.round(v)+" µs";}
var target=Math.max(1,Math.round(end*Math.min(1,300/Math.max(n,1))));
var widths=[],w=1,steps=[2,2.5,2],si=0;while(w<end){widths.push(w);w*=steps[si++%3];}widths.push(end);
var best=0;widths.forEach(function(x,k){if(Math.abs(Math.log(x/target))<Math.abs(Math.log(widths[best]/target)))best=k;});
widths.forEach(function(x,k){var o=document.createElement("option");o.value=String(x);o.textContent=k===widths.length-1?"whole run":fmt(x).replace("event ","")+(unit==="us"?"":" events");if(k===best)o.selected=true;widthSel.appendChild(o);});
var win0=0;
function el(name,attrs){var e=document.createElementNS(NS,name);for(var k in attrs)e.setAttribute(k,attrs[k]);return e;}
function render(){
 var width=Number(widthSel.value),a=win0,b=a+width;
 var shown=[],total=0;
 for(var i=0;i<n&&st[i]<b;i++){var e=(code[i]&3)===3?end:st[i]+len[i];if(e<a)continue;total++;if(shown.length<MAX)shown.push(i);}
 var lanes={},order=[];shown.forEach(function(i){if(!(lane[i] in lanes)){lanes[lane[i]]=0;order.push(lane[i]);}});
 order.sort(function(x,y){return x-y;});order.forEach(function(l,k){lanes[l]=k;});
 var left=80,W=Math.max(view.clientWidth-20,600),LH=18,H=30+LH*order.length+10;
 var svg=el("svg",{width:W,height:H,viewBox:"0 0 "+W+" "+H,"font-family":"sans-serif","font-size":"10"});
 var x=function(v){return left+(W-left-10)*(Math.min(Math.max(v,a),b)-a)/width;};
 meta.windows.forEach(function(f){if(f[1]<a||f[0]>b)return;var r=el("rect",{x:x(f[0]),y:16,width:Math.max(1,x(f[1])-x(f[0])),height:H-20,fill:"#7850aa","fill-opacity":"0.12"});var tt=el("title",{});tt.textContent=f[2];r.appendChild(tt);svg.appendChild(r);var lt=el("text",{x:x(f[0])+2,y:12,fill:"#7850aa"});lt.textContent=f[2];svg.appendChild(lt);});
 order.forEach(function(l,k){var y=30+LH*k;var tx=el("text",{x:4,y:y+12,fill:"#444"});tx.textContent="process "+meta.processes[l];svg.appendChild(tx);svg.appendChild(el("line",{x1:left,x2:W-10,y1:y+LH-1,y2:y+LH-1,stroke:"#eee"}));});
 shown.forEach(function(i){var c=code[i]&3,f=code[i]>>2,s=st[i],e=c===3?end:s+len[i];
  var y=30+LH*lanes[lane[i]]+2,x0=x(s),x1=Math.max(x(e),x0+2);
  var r=el("rect",{x:x0,y:y,width:x1-x0,height:LH-5,fill:fills[c],stroke:colors[c],"stroke-width":"1","class":"tl-op"});
  if(c===3)r.setAttribute("stroke-dasharray","3 2");
  if(i===marked){r.setAttribute("stroke","#c82828");r.setAttribute("stroke-width","3");r.setAttribute("class","tl-op tl-marked");}
  var tt=el("title",{});var fname=f<meta.fs.length?meta.fs[f]:"other";
  tt.textContent="op "+i+" · process "+meta.processes[lane[i]]+" · "+fname+" · "+["ok","fail","info","never completed"][c]+(c<3?" · "+fmt(len[i]).replace("event ","")+(unit==="us"?"":" events"):"")+(meta.details?" · "+meta.details[i]:"");
  r.appendChild(tt);svg.appendChild(r);
  if(x1-x0>36){var lb=el("text",{x:x0+3,y:y+10,fill:"#222","pointer-events":"none"});lb.textContent=fname;svg.appendChild(lb);}
 });
 while(view.firstChild)view.removeChild(view.firstChild);
 view.appendChild(svg);
 info.textContent=fmt(a)+" – "+fmt(b)+": "+total+" ops"+(total>shown.length?" (showing the first "+shown.length+"; narrow the window)":"");
 slider.value=String(Math.round(1000*a/Math.max(1,end-width)));
 overview();
}
function clamp(){win0=Math.max(0,Math.min(win0,Math.max(0,end-Number(widthSel.value))));}
slider.addEventListener("input",function(){win0=Math.max(0,end-Number(widthSel.value))*Number(slider.value)/1000;clamp();render();});
widthSel.addEventListener("change",function(){clamp();render();});
document.getElementById("tl-prev").addEventListener("click",function(){win0-=Number(widthSel.value);clamp();render();});
document.getElementById("tl-next").addEventListener("click",function(){win0+=Number(widthSel.value);clamp();render();});
// The overview: every op binned by invocation time into one column per pixel (ok in blue,
// fail and info in red above it), fault windows shaded, the current window outlined.
var ov=document.getElementById("tl-overview"),ovOk=null,ovBad=null,ovMax=1;
function overview(){
 var ctx=ov.getContext&&ov.getContext("2d");if(!ctx)return;
 var W=Math.max(view.clientWidth,300),H=ov.height;
 if(!ovOk||ovOk.length!==W){ov.width=W;ovOk=new Float64Array(W);ovBad=new Float64Array(W);ovMax=1;
  for(var i=0;i<n;i++){var b=Math.min(W-1,Math.floor(W*st[i]/end));if((code[i]&3)===0)ovOk[b]++;else ovBad[b]++;}
  for(var k=0;k<W;k++)ovMax=Math.max(ovMax,ovOk[k]+ovBad[k]);}
 ctx.clearRect(0,0,W,H);ctx.fillStyle="rgba(120,80,170,0.15)";
 meta.windows.forEach(function(f){ctx.fillRect(W*f[0]/end,0,Math.max(1,W*(f[1]-f[0])/end),H);});
 for(var c=0;c<W;c++){var ho=(H-2)*ovOk[c]/ovMax,hb=(H-2)*ovBad[c]/ovMax;
  ctx.fillStyle="#2563b5";ctx.fillRect(c,H-ho,1,ho);ctx.fillStyle="#c82828";ctx.fillRect(c,H-ho-hb,1,hb);}
 var w=Number(widthSel.value);ctx.strokeStyle="#111";ctx.lineWidth=2;
 ctx.strokeRect(W*win0/end,1,Math.max(3,W*w/end),H-2);
}
ov.addEventListener("click",function(e){var r=ov.getBoundingClientRect();
 win0=(e.clientX-r.left)/r.width*end-Number(widthSel.value)/2;clamp();render();});
var marked=-1;
Array.prototype.forEach.call(document.querySelectorAll(".tl-jump"),function(btn){btn.addEventListener("click",function(){
 marked=Number(btn.getAttribute("data-op"));var at=Number(btn.getAttribute("data-at"));
 win0=at-Number(widthSel.value)/2;clamp();render();document.getElementById("timeline").scrollIntoView();});});
window.faultlineTimeline={ops:n,show:function(v){win0=v;clamp();render();}};
// report.html#op=N opens with op N outlined in the middle of the window.
var linked=/^#op=(\d+)$/.exec(location.hash);
if(linked&&Number(linked[1])<n){marked=Number(linked[1]);win0=st[marked]-Number(widthSel.value)/2;clamp();}
render();
})();
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_little_endian_base_128_with_a_continuation_bit() {
        let mut out = Vec::new();
        push_varint(&mut out, 300);
        push_varint(&mut out, 0);
        assert_eq!(out, vec![0xac, 0x02, 0x00]);
    }
}
