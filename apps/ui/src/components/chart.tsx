import { useEffect, useRef } from 'react';
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip, type ChartConfiguration,
} from 'chart.js';

Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Legend, Tooltip);

export const PALETTE = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#dc2626', '#0891b2', '#4d7c0f', '#db2777', '#64748b', '#7c3aed'];

/** stack: series with the same stack are piled up (in a stacked chart); another stack stands beside them. color: instead of the palette's. */
export interface Series { label: string; values: number[]; stack?: string; color?: string }

/**
 * A Chart.js chart on a canvas. The canvas is an image to assistive
 * technology, labelled by `title`; every chart on the dashboard also has its
 * figures in a table beside it.
 */
export function SeriesChart(props: { type: 'bar' | 'line'; title: string; labels: string[]; series: Series[]; stacked?: boolean; yTitle?: string; testId?: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart | null>(null);

  useEffect(() => {
    if (!canvas.current) return;
    const config: ChartConfiguration = {
      type: props.type,
      data: {
        labels: props.labels,
        datasets: props.series.map((s, i) => ({
          label: s.label, data: s.values, backgroundColor: s.color ?? PALETTE[i % PALETTE.length], borderColor: s.color ?? PALETTE[i % PALETTE.length], tension: 0.2,
          stack: s.stack ?? 'main',
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { position: 'bottom' } },
        scales: {
          x: { stacked: props.stacked ?? false },
          y: { stacked: props.stacked ?? false, beginAtZero: true, title: { display: !!props.yTitle, text: props.yTitle ?? '' } },
        },
      },
    };
    if (chart.current) {
      chart.current.data = config.data;
      chart.current.update();
    } else {
      chart.current = new Chart(canvas.current, config);
    }
  }, [props.type, props.labels.join('|'), JSON.stringify(props.series), props.stacked]);

  useEffect(() => () => { chart.current?.destroy(); chart.current = null; }, []);

  return (
    <figure className="chart">
      <figcaption>{props.title}</figcaption>
      <div className="chart-box">
        <canvas ref={canvas} role="img" aria-label={props.title} data-testid={props.testId} />
      </div>
    </figure>
  );
}
