import { useId } from "react";
import { axisFor, tickLabel, ticks } from "../axis";
import { formatCm } from "../format";
import { IRIS, IRIS_SPECIES, describeFlower, summarise } from "../irisData";

interface Props {
  petalLength: number;
  petalWidth: number;
}

type Shape = "circle" | "square" | "triangle";

// Okabe-Ito blue, a darkened orange and a purple: told apart with the common colour-vision
// deficiencies, each at least 3:1 against white; the shapes tell the species apart as well.
const MARKS: { shape: Shape; colour: string }[] = [
  { shape: "circle", colour: "#0072b2" },
  { shape: "square", colour: "#a85200" },
  { shape: "triangle", colour: "#7b3294" },
];
const SHAPE_NAMES: Record<Shape, string> = {
  circle: "circles",
  square: "squares",
  triangle: "triangles",
};

function markOf(species: string) {
  const index = IRIS_SPECIES.indexOf(species);
  return MARKS[index % MARKS.length] ?? MARKS[0]!;
}

const WIDTH = 340;
const HEIGHT = 260;
const MARGIN = { top: 12, right: 14, bottom: 42, left: 46 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;
const SUMMARIES = summarise(IRIS);
const LONGEST = Math.max(...SUMMARIES.map((s) => s.petalLength.max));
const WIDEST = Math.max(...SUMMARIES.map((s) => s.petalWidth.max));
function Mark({
  shape,
  x,
  y,
  size,
  colour,
}: {
  shape: Shape;
  x: number;
  y: number;
  size: number;
  colour: string;
}) {
  const common = { fill: colour, fillOpacity: 0.45, stroke: colour, strokeWidth: 1 };
  switch (shape) {
    case "circle":
      return <circle cx={x} cy={y} r={size} {...common} />;
    case "square":
      return <rect x={x - size} y={y - size} width={size * 2} height={size * 2} {...common} />;
    case "triangle": {
      const h = size * 1.2;
      return (
        <polygon
          points={`${x},${y - h} ${x - h},${y + h * 0.8} ${x + h},${y + h * 0.8}`}
          {...common}
        />
      );
    }
  }
}

/** The iris data set's petal sizes by species, with the flower just measured marked. */
export function IrisScatter({ petalLength, petalWidth }: Props) {
  const id = useId();
  const xAxis = axisFor(Math.max(LONGEST, petalLength));
  const yAxis = axisFor(Math.max(WIDEST, petalWidth));
  const sx = (v: number) => MARGIN.left + (v / xAxis.max) * PLOT_W;
  const sy = (v: number) => MARGIN.top + PLOT_H - (v / yAxis.max) * PLOT_H;
  const [fx, fy] = [sx(petalLength), sy(petalWidth)];
  const labelLeft = fx > MARGIN.left + PLOT_W * 0.6;

  const title = `Iris data set, petal length against petal width. This flower: ${describeFlower(petalLength, petalWidth)}.`;
  const desc = SUMMARIES.map(
    (s) =>
      `${s.count} ${s.species} (${SHAPE_NAMES[markOf(s.species).shape]}): petals ` +
      `${formatCm(s.petalLength.min)} to ${formatCm(s.petalLength.max)} long, ` +
      `${formatCm(s.petalWidth.min)} to ${formatCm(s.petalWidth.max)} wide`,
  ).join("; ");

  return (
    <figure className="scatter">
      <svg
        role="img"
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        aria-labelledby={`${id}-title`}
        aria-describedby={`${id}-desc`}
      >
        <title id={`${id}-title`}>{title}</title>
        <desc id={`${id}-desc`}>{`${desc}.`}</desc>
        <g className="scatter-axes">
          {ticks(xAxis).map((v) => (
            <g key={`x${v}`}>
              <line
                x1={sx(v)}
                x2={sx(v)}
                y1={MARGIN.top}
                y2={MARGIN.top + PLOT_H}
                className="grid"
              />
              <text x={sx(v)} y={MARGIN.top + PLOT_H + 14} textAnchor="middle">
                {tickLabel(v, xAxis)}
              </text>
            </g>
          ))}
          {ticks(yAxis).map((v) => (
            <g key={`y${v}`}>
              <line
                x1={MARGIN.left}
                x2={MARGIN.left + PLOT_W}
                y1={sy(v)}
                y2={sy(v)}
                className="grid"
              />
              <text x={MARGIN.left - 6} y={sy(v) + 3.5} textAnchor="end">
                {tickLabel(v, yAxis)}
              </text>
            </g>
          ))}
          <text x={MARGIN.left + PLOT_W / 2} y={HEIGHT - 6} textAnchor="middle">
            Petal length (cm)
          </text>
          <text
            x={12}
            y={MARGIN.top + PLOT_H / 2}
            textAnchor="middle"
            transform={`rotate(-90 12 ${MARGIN.top + PLOT_H / 2})`}
          >
            Petal width (cm)
          </text>
        </g>
        <g>
          {IRIS.map((f, i) => {
            const mark = markOf(f.species);
            return (
              <Mark
                key={i}
                shape={mark.shape}
                colour={mark.colour}
                x={sx(f.petalLength)}
                y={sy(f.petalWidth)}
                size={3}
              />
            );
          })}
        </g>
        <g className="scatter-flower">
          <line x1={fx} x2={fx} y1={fy} y2={MARGIN.top + PLOT_H} className="guide" />
          <line x1={MARGIN.left} x2={fx} y1={fy} y2={fy} className="guide" />
          <circle cx={fx} cy={fy} r={8} className="ring-halo" />
          <circle cx={fx} cy={fy} r={8} className="ring" />
          <circle cx={fx} cy={fy} r={2} className="dot" />
          <text
            x={labelLeft ? fx - 12 : fx + 12}
            y={fy - 10}
            textAnchor={labelLeft ? "end" : "start"}
            className="flower-label"
          >
            this flower
          </text>
        </g>
      </svg>
      <figcaption>
        <ul className="legend" aria-label="Legend">
          {SUMMARIES.map((s) => {
            const mark = markOf(s.species);
            return (
              <li key={s.species}>
                <svg width="14" height="14" viewBox="0 0 14 14" aria-hidden="true">
                  <Mark shape={mark.shape} colour={mark.colour} x={7} y={7} size={4.5} />
                </svg>{" "}
                {s.species} ({s.count})
              </li>
            );
          })}
          <li>
            <svg width="20" height="20" viewBox="0 0 20 20" aria-hidden="true">
              <circle cx={10} cy={10} r={7} className="ring" />
              <circle cx={10} cy={10} r={2} className="dot" />
            </svg>{" "}
            this flower
          </li>
        </ul>
        Petal sizes of the {IRIS.length} flowers in Fisher&apos;s iris data set (1936).
      </figcaption>
    </figure>
  );
}
