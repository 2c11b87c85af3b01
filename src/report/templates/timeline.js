{% raw %}
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
 // Fault windows: purple, labelled on top. Crashes: dark, a line where the process died,
 // labelled at the bottom (staggered: nodes often crash together).
 var ci=0;meta.windows.forEach(function(f){if(f[1]<a||f[0]>b)return;var crash=f[3]==="crash",col=crash?"#5a143c":"#7850aa";
  var r=el("rect",{x:x(f[0]),y:16,width:Math.max(1,x(f[1])-x(f[0])),height:H-20,fill:col,"fill-opacity":crash?"0.08":"0.12","class":crash?"tl-crash":"tl-fault"});var tt=el("title",{});tt.textContent=f[2];r.appendChild(tt);svg.appendChild(r);
  if(crash){if(f[0]>=a)svg.appendChild(el("line",{x1:x(f[0]),x2:x(f[0]),y1:16,y2:H-4,stroke:col,"stroke-width":"2"}));var ct=el("text",{x:x(f[0])+3,y:H-6-12*(ci++%3),fill:col,"font-weight":"bold"});ct.textContent=f[2];svg.appendChild(ct);}
  else{var lt=el("text",{x:x(f[0])+2,y:12,fill:col});lt.textContent=f[2];svg.appendChild(lt);}});
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
 ctx.clearRect(0,0,W,H);
 meta.windows.forEach(function(f){var crash=f[3]==="crash";ctx.fillStyle=crash?"rgba(90,20,60,0.12)":"rgba(120,80,170,0.15)";ctx.fillRect(W*f[0]/end,0,Math.max(1,W*(f[1]-f[0])/end),H);
  if(crash){ctx.fillStyle="#5a143c";ctx.fillRect(W*f[0]/end,0,2,H);}});
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
{% endraw %}
